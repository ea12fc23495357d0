"""Real-ESRGAN's generator losses as img2img loss terms (`loss.generator.esrgan_l1`, `esrgan_perceptual`).

Real-ESRGAN (options/train_realesrgan_x4plus.yml, BasicSR's losses) compares the output with the
ground truth sharpened by unsharp masking (`l1_gt_usm`, `percep_gt_usm`; the GAN sees the plain
ground truth), on images in [0, 1]:

- pixel loss: L1, weight 1;
- perceptual loss: L1 between VGG19 features taken BEFORE the activation at conv1_2, conv2_2,
  conv3_4, conv4_4 and conv5_4, weighted 0.1, 0.1, 1, 1, 1, on ImageNet-normalised inputs, weight 1.
  (The core's `vgg` term is pix2pixHD's: after the ReLUs, other layers and weights.)

Both terms work on [0, 1] like the original, so their weights are Real-ESRGAN's as published (the
core's `l1` on [-1, 1] images is twice as large). VGG19's weights are read from torch's hub cache, as
for the core's `vgg` term; they are never downloaded at run time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.errors import ConfigError
from i2i.terms import LossTerm, StepContext

USM_RADIUS = 51  # BasicSR USMSharp(radius=50): an odd kernel of 51 taps
USM_WEIGHT = 0.5
USM_THRESHOLD = 10 / 255  # residuals below 10 grey levels are left unsharpened
# torchvision vgg19.features indices of conv1_2, conv2_2, conv3_4, conv4_4, conv5_4 and their weights
PERCEPTUAL_LAYERS = {2: 0.1, 7: 0.1, 16: 1.0, 25: 1.0, 34: 1.0}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def gaussian_kernel(size: int = USM_RADIUS) -> Tensor:
    """(size, size) Gaussian with OpenCV's automatic sigma for `getGaussianKernel(size, 0)`."""
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).float()


def _blur(img: Tensor, kernel: Tensor) -> Tensor:
    b, c, h, w = img.shape
    k = kernel.shape[-1]
    mode = "reflect" if min(h, w) > k // 2 else "replicate"  # reflect needs sides above the pad
    padded = F.pad(img.reshape(b * c, 1, h, w), (k // 2,) * 4, mode=mode)
    return F.conv2d(padded, kernel.to(img)[None, None]).reshape(b, c, h, w)


def usm_sharpen(img: Tensor, kernel: Tensor | None = None) -> Tensor:
    """BasicSR's USMSharp on (B,C,H,W) images in [0, 1]: add half the high-pass residual where it
    exceeds 10 grey levels, blended by a blurred mask so the edit has no hard borders."""
    kernel = gaussian_kernel() if kernel is None else kernel
    residual = img - _blur(img, kernel)
    soft_mask = _blur((residual.abs() > USM_THRESHOLD).to(img.dtype), kernel)
    sharp = (img + USM_WEIGHT * residual).clamp(0, 1)
    return soft_mask * sharp + (1 - soft_mask) * img


class _Target(LossTerm):
    """The real image in [0, 1], unsharp-masked when `usm` (Real-ESRGAN's `*_gt_usm`)."""

    def __init__(self, usm: bool = True) -> None:
        super().__init__()
        self.usm = bool(usm)
        self.register_buffer("kernel", gaussian_kernel(), persistent=False)

    def target(self, ctx: StepContext) -> Tensor:
        real = (ctx.real.float() + 1) * 0.5
        return usm_sharpen(real, self.kernel) if self.usm else real


class ESRGANL1(_Target):
    """Real-ESRGAN's pixel loss: L1 on [0, 1] against the (sharpened) ground truth."""

    def forward(self, ctx: StepContext) -> Tensor:
        return F.l1_loss((ctx.fake.float() + 1) * 0.5, self.target(ctx))


class ESRGANPerceptual(_Target):
    """Real-ESRGAN's perceptual loss (BasicSR PerceptualLoss with the layer weights above)."""

    def __init__(self, usm: bool = True) -> None:
        super().__init__(usm)
        self.features = _vgg19_convs(max(PERCEPTUAL_LAYERS))
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> ESRGANPerceptual:
        return super().train(False)  # a frozen feature extractor

    def _feats(self, x: Tensor) -> list[Tensor]:
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in PERCEPTUAL_LAYERS:
                out.append(x)
        return out

    def forward(self, ctx: StepContext) -> Tensor:
        fake = self._feats((ctx.fake.float() + 1) * 0.5)
        with torch.no_grad():
            real = self._feats(self.target(ctx))
        loss = fake[0].new_zeros(())
        for weight, f, r in zip(PERCEPTUAL_LAYERS.values(), fake, real):
            loss = loss + weight * F.l1_loss(f, r)
        return loss


def load_vgg19_features() -> dict[str, Tensor]:
    """torchvision's ImageNet VGG19 `features` weights (keys without the `features.` prefix) from
    torch's hub cache, or a one-line ConfigError saying how to get them."""
    from i2i.nets.vgg import weights_path

    path = weights_path()
    if not path.is_file():
        raise ConfigError(
            f"loss.generator.esrgan_perceptual needs torchvision's VGG19 weights at {path} (not there; on a "
            "machine with internet: python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\"), "
            "or set loss.generator.esrgan_perceptual=0"
        )
    try:
        from i2i.nets.foreign import check_safe_torch

        check_safe_torch()
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    except Exception as exc:
        raise ConfigError(f"{path}: not usable VGG19 weights ({str(exc).splitlines()[0][:120]})") from None


def _vgg19_convs(last: int) -> nn.Sequential:
    """VGG19 `features[: last + 1]` with ImageNet weights, frozen, with non-inplace ReLUs so the
    tapped convolution outputs stay pre-activation."""
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["E"], batch_norm=False)
    try:
        features.load_state_dict(load_vgg19_features())
    except RuntimeError as exc:
        raise ConfigError(
            f"VGG19 weights do not fit torchvision's vgg19 ({str(exc).splitlines()[0][:120]})"
        ) from None
    layers = [nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m for m in features[: last + 1]]
    return nn.Sequential(*layers).eval().requires_grad_(False)


__all__ = ["ESRGANL1", "ESRGANPerceptual", "gaussian_kernel", "load_vgg19_features", "usm_sharpen"]
