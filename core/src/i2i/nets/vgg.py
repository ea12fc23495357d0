"""The VGG19 perceptual loss of pix2pixHD and SPADE, from torchvision's ImageNet weights.

L1 between VGG19 activations (relu1_1 ... relu5_1, weighted 1/32 ... 1) of the generated and the
real image: it rewards matching textures and structure rather than exact pixels, which is what
makes SPADE's style encoder and pix2pixHD's outputs sharp. The weights are never downloaded at
run time: they are read from torch's hub cache (`$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth`,
where `torchvision.models.vgg19(weights="IMAGENET1K_V1")` puts them), with `weights_only=True`;
when they are absent, asking for the loss is a one-line config error saying how to get them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.errors import ConfigError

LAYER_ENDS = (2, 7, 12, 21, 30)  # torchvision vgg19.features indices just after relu1_1 ... relu5_1
LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"  # torchvision VGG19_Weights.IMAGENET1K_V1
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


class VGGLoss(nn.Module):
    """Frozen VGG19 feature distance between images in [-1, 1]."""

    def __init__(self, state_dict: dict[str, Tensor]) -> None:
        """`state_dict`: torchvision's vgg19 state dict (only its `features.*` entries are used)."""
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        features = make_layers(cfgs["E"], batch_norm=False)  # vgg19's convolutional part
        prefix = "features."
        features.load_state_dict({k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)})
        features = features[: LAYER_ENDS[-1]].eval().requires_grad_(False)
        starts = (0, *LAYER_ENDS[:-1])
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(starts, LAYER_ENDS))
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> VGGLoss:
        return super().train(False)  # always eval: no dropout/BN in the slices, but stay explicit

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        x = ((fake.float() + 1) / 2 - self.mean) / self.std
        y = ((real.float() + 1) / 2 - self.mean) / self.std
        loss = x.new_zeros(())
        for weight, block in zip(LAYER_WEIGHTS, self.slices):
            x, y = block(x), block(y)
            loss = loss + weight * F.l1_loss(x, y.detach())
        return loss


def load_vgg_loss(path: Path | None = None) -> VGGLoss:
    """The VGG loss from locally available torchvision weights, or ConfigError saying how to get them."""
    path = weights_path() if path is None else path
    if not path.is_file():
        raise ConfigError(
            f"loss.generator.vgg needs torchvision's VGG19 weights at {path} (not there; on a machine with internet: "
            "python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\"), "
            "or set loss.generator.vgg=0"
        )
    try:
        from i2i.nets.foreign import check_safe_torch

        check_safe_torch()
        state = torch.load(path, map_location="cpu", weights_only=True)
        return VGGLoss(state)
    except Exception as exc:
        raise ConfigError(f"{path}: not usable VGG19 weights ({str(exc).splitlines()[0][:120]})") from None
