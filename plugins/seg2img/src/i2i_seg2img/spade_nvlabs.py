"""The SPADE generator and style encoder in the layout of the original code (NVlabs/SPADE), so its
checkpoints load key for key (`i2i_seg2img.spade_import`) and reproduce its outputs.

That layout differs from the core's SPADE generator (`i2i.nets.spade`, the plugin's own `spade`):

- a fixed width schedule: ``fc`` (a 3x3 conv of the label map downsampled to the latent grid, or
  with the VAE a linear layer of z reshaped to it) to 16 ngf, then ``head_0``, ``G_middle_0``,
  ``G_middle_1`` at 16 ngf and ``up_0`` .. ``up_3`` down to ngf, ``up_4`` to ngf/2 for
  num_upsampling_layers "most", ``conv_img`` to RGB;
- ``num_upsampling_layers``: "normal" upsamples 5 times, "more" adds one between the two middle
  blocks, "most" one more before ``up_4``; the latent grid is crop_size / 2**n wide and
  round(width / aspect_ratio) high (the original's ``compute_latent_vector_size``);
- SPADE's style comes only through z (the VAE), not through a style vector in every layer;
- the param-free norm of SPADE (batch or instance), its kernel size and hidden width are what the
  original's ``norm_G`` string ("spectralspadesyncbatch3x3") says; spectral norm on the block convs.

The latent grid follows the label map when its size divides by 2**n (training crops, any size),
and is the original's (crop_size, aspect_ratio) grid otherwise and always with the VAE, whose
linear layer fixes it; the original's own input size gives the original's grid either way.

Sync batch norm ("syncbatch") is ordinary batch norm here: identical in eval mode, and
`train.sync_batchnorm` converts it for multi-GPU training.

Inference (eval mode without autograd) runs on frozen copies of the weights (`Frozen`): spectral
norm applied once instead of in every call, each SPADE's gamma and beta convolutions fused into
one (with the 1 of ``1 + gamma`` in its bias), everything channels_last. The same arithmetic in
another order: outputs differ from the reference path by ~1e-6 and it is ~1.5x faster on a CPU
(benchmarks/bench_spade.py). The copies are rebuilt when any weight changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Generator
from i2i.nets.init import init_weights
from i2i.nets.norm import maybe_spectral

UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}
SPADE_NORMS = ("batch", "instance")
ENCODER_NORMS = ("batch", "instance", "none")
ENCODER_SIZE = 256  # the original's encoder resizes every photo to 256x256 first


def latent_grid(crop_size: int, aspect_ratio: float, num_upsampling_layers: str) -> tuple[int, int]:
    """(height, width) of the original's latent grid: crop_size // 2**n wide, height from the
    aspect ratio (width / height), rounded as the original rounds it."""
    if num_upsampling_layers not in UPSAMPLINGS:
        raise ValueError(
            f"num_upsampling_layers must be one of {', '.join(UPSAMPLINGS)}, not {num_upsampling_layers!r}"
        )
    sw = crop_size // 2 ** UPSAMPLINGS[num_upsampling_layers]
    sh = round(sw / aspect_ratio)
    if sw < 1 or sh < 1:
        raise ValueError(f"crop_size {crop_size} is too small for {num_upsampling_layers!r} upsampling")
    return sh, sw


class SpadeNorm(nn.Module):
    """SPADE: param_free_norm(x) * (1 + gamma(seg)) + beta(seg), with the original's names."""

    def __init__(self, channels: int, label_channels: int, norm: str, kernel_size: int, hidden: int) -> None:
        super().__init__()
        if norm not in SPADE_NORMS:
            raise ValueError(f"SPADE norm must be one of {', '.join(SPADE_NORMS)}, not {norm!r}")
        self.param_free_norm: nn.Module = (
            nn.BatchNorm2d(channels, affine=False)
            if norm == "batch"
            else nn.InstanceNorm2d(channels, affine=False)
        )
        pad = kernel_size // 2
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(label_channels, hidden, kernel_size, padding=pad), nn.ReLU()
        )
        self.mlp_gamma = nn.Conv2d(hidden, channels, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, channels, kernel_size, padding=pad)

    def forward(self, x: Tensor, seg: Tensor, frozen: Frozen | None = None) -> Tensor:
        """`seg` is already at x's size (the generator resamples it once per resolution)."""
        if frozen is not None:
            actv = F.relu(frozen.conv(self.mlp_shared[0], seg))
            weight, bias = frozen.gamma_beta[id(self)]
            one_plus_gamma, beta = F.conv2d(actv, weight, bias, 1, self.mlp_gamma.padding).chunk(2, dim=1)
            return torch.addcmul(beta, self.param_free_norm(x), one_plus_gamma)
        actv = self.mlp_shared(seg)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SpadeResBlock(nn.Module):
    """(SPADE, LeakyReLU 0.2, 3x3 conv) twice, plus a SPADE-normalised 1x1 shortcut when the width
    changes; spectral norm on the three convolutions when `spectral`."""

    def __init__(self, fin: int, fout: int, label_channels: int, spade: dict, spectral: bool) -> None:
        super().__init__()
        middle = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = maybe_spectral(nn.Conv2d(fin, middle, 3, padding=1), spectral)
        self.conv_1 = maybe_spectral(nn.Conv2d(middle, fout, 3, padding=1), spectral)
        self.norm_0 = SpadeNorm(fin, label_channels, **spade)
        self.norm_1 = SpadeNorm(middle, label_channels, **spade)
        if self.learned_shortcut:
            self.conv_s = maybe_spectral(nn.Conv2d(fin, fout, 1, bias=False), spectral)
            self.norm_s = SpadeNorm(fin, label_channels, **spade)

    def forward(self, x: Tensor, seg: Tensor, frozen: Frozen | None = None) -> Tensor:
        conv = _conv if frozen is None else frozen.conv
        skip = conv(self.conv_s, self.norm_s(x, seg, frozen)) if self.learned_shortcut else x
        dx = conv(self.conv_0, F.leaky_relu(self.norm_0(x, seg, frozen), 0.2))
        dx = conv(self.conv_1, F.leaky_relu(self.norm_1(dx, seg, frozen), 0.2))
        return skip + dx


def _conv(layer: nn.Module, x: Tensor) -> Tensor:
    return layer(x)


class Frozen:
    """Inference copies of a SpadeNet's convolution weights (see the module docstring), keyed by
    module; `stale` says whether a weight changed since (load_state_dict, an optimiser step, EMA)."""

    def __init__(self, net: nn.Module) -> None:
        self.key = _weights_key(net)
        self.weights: dict[int, tuple[Tensor, Tensor | None]] = {}
        self.gamma_beta: dict[int, tuple[Tensor, Tensor]] = {}
        cl = torch.channels_last
        for module in net.modules():
            if isinstance(module, nn.Conv2d):  # a parametrized weight (spectral norm) is computed here, once
                self.weights[id(module)] = (module.weight.detach().contiguous(memory_format=cl), module.bias)
            if isinstance(module, SpadeNorm):
                gamma, beta = module.mlp_gamma, module.mlp_beta
                weight = torch.cat([gamma.weight, beta.weight]).contiguous(memory_format=cl)
                self.gamma_beta[id(module)] = (weight, torch.cat([gamma.bias + 1, beta.bias]))

    def stale(self, net: nn.Module) -> bool:
        return self.key != _weights_key(net)

    def conv(self, layer: nn.Module, x: Tensor) -> Tensor:
        weight, bias = self.weights[id(layer)]
        return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def _weights_key(net: nn.Module) -> tuple[tuple[int, int], ...]:
    """Identity and version of every parameter and buffer: any in-place change bumps a version."""
    return tuple((t.data_ptr(), t._version) for t in (*net.parameters(), *net.buffers()))


class SpadeNet(nn.Module):
    """(semantic input (B, label_channels, H, W), z (B, z_dim) for the VAE) -> (B, 3, h, w) in [-1, 1]."""

    def __init__(
        self,
        label_channels: int,
        ngf: int,
        num_upsampling_layers: str,
        latent: tuple[int, int],
        use_vae: bool,
        z_dim: int,
        spade: dict,
        spectral: bool,
    ) -> None:
        super().__init__()
        self.num_upsampling_layers = num_upsampling_layers
        self.levels = UPSAMPLINGS[num_upsampling_layers]
        self.latent = latent
        self.use_vae = use_vae
        self.z_dim = z_dim
        self.width = 16 * ngf
        sh, sw = latent
        self.fc = (
            nn.Linear(z_dim, self.width * sh * sw)
            if use_vae
            else nn.Conv2d(label_channels, self.width, 3, padding=1)
        )

        def block(fin: int, fout: int) -> SpadeResBlock:
            return SpadeResBlock(fin, fout, label_channels, spade, spectral)

        nf = ngf
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final = nf // 2
        self.conv_img = nn.Conv2d(final, 3, 3, padding=1)

    def grid(self, h: int, w: int) -> tuple[int, int]:
        """The latent grid for a label map of h x w (see the module docstring)."""
        m = 2**self.levels
        if self.use_vae or h % m or w % m:
            return self.latent
        return h // m, w // m

    def frozen(self) -> Frozen:
        """The inference copies of the weights, rebuilt when a weight has changed."""
        cached = self.__dict__.get("_frozen")
        if cached is None or cached.stale(self):
            with torch.no_grad():
                cached = Frozen(self)
            self.__dict__["_frozen"] = cached  # not a submodule, not in the state dict
        return cached

    def forward(self, seg: Tensor, z: Tensor | None = None) -> Tensor:
        frozen = None if self.training or torch.is_grad_enabled() else self.frozen()
        if frozen is not None:
            seg = seg.contiguous(memory_format=torch.channels_last)
        sh, sw = self.grid(*seg.shape[-2:])
        if self.use_vae:
            if z is None:
                z = seg.new_zeros(seg.shape[0], self.z_dim)
            x = self.fc(z.to(seg.dtype)).view(-1, self.width, sh, sw)
        else:
            small = F.interpolate(seg, size=(sh, sw), mode="nearest")
            x = self.fc(small) if frozen is None else frozen.conv(self.fc, small)
        resampled: dict[tuple[int, int], Tensor] = {}

        def at(x: Tensor) -> Tensor:
            size = (x.shape[-2], x.shape[-1])
            if size not in resampled:
                resampled[size] = F.interpolate(seg, size=size, mode="nearest")
            return resampled[size]

        def up(x: Tensor) -> Tensor:
            return F.interpolate(x, scale_factor=2, mode="nearest")

        x = self.head_0(x, at(x), frozen)
        x = up(x)
        x = self.G_middle_0(x, at(x), frozen)
        if self.num_upsampling_layers in ("more", "most"):
            x = up(x)
        x = self.G_middle_1(x, at(x), frozen)
        ups = [self.up_0, self.up_1, self.up_2, self.up_3]
        if self.num_upsampling_layers == "most":
            ups.append(self.up_4)
        for block in ups:
            x = up(x)
            x = block(x, at(x), frozen)
        x = F.leaky_relu(x, 0.2)
        x = self.conv_img(x) if frozen is None else frozen.conv(self.conv_img, x)
        return torch.tanh(x).contiguous()


class ConvEncoder(nn.Module):
    """Photo -> (mu, logvar) of z, the original's ConvEncoder: the photo resized to 256x256, six
    3x3 stride-2 convolutions (ngf, 2, 4, 8, 8, 8 ngf) with LeakyReLU(0.2), two linear heads on
    the flattened 4x4 map. Each layer is ``Sequential(conv, norm)``, or the bare conv without a
    norm; a conv followed by a norm has no bias (the original deletes it)."""

    def __init__(self, ngf: int, z_dim: int = 256, norm: str = "instance", spectral: bool = True) -> None:
        super().__init__()
        if norm not in ENCODER_NORMS:
            raise ValueError(f"encoder norm must be one of {', '.join(ENCODER_NORMS)}, not {norm!r}")
        widths = [3, ngf, 2 * ngf, 4 * ngf, 8 * ngf, 8 * ngf, 8 * ngf]
        for i in range(6):
            conv = maybe_spectral(
                nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1, bias=norm == "none"), spectral
            )
            if norm == "none":
                layer: nn.Module = conv
            elif norm == "batch":
                layer = nn.Sequential(conv, nn.BatchNorm2d(widths[i + 1], affine=True))
            else:
                layer = nn.Sequential(conv, nn.InstanceNorm2d(widths[i + 1], affine=False))
            self.add_module(f"layer{i + 1}", layer)
        self.fc_mu = nn.Linear(8 * ngf * 4 * 4, z_dim)
        self.fc_var = nn.Linear(8 * ngf * 4 * 4, z_dim)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        x = image
        if x.shape[-2:] != (ENCODER_SIZE, ENCODER_SIZE):
            x = F.interpolate(x, size=(ENCODER_SIZE, ENCODER_SIZE), mode="bilinear", align_corners=False)
        for i in range(1, 7):
            layer = getattr(self, f"layer{i}")
            x = layer(x if i == 1 else F.leaky_relu(x, 0.2))
        x = F.leaky_relu(x, 0.2).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


class SpadeNVGenerator(Generator):
    """Condition(maps = SPADE's semantic input, refs = a style photo or None) + z -> photo.

    With the VAE (`net.use_vae`): a style photo in `refs` is encoded by `encoder` and z is the
    code's mean at inference (deterministic; the original samples mu + eps * std even at test
    time, which `sample` reproduces given its eps); while training z is sampled and the posterior
    (`mu`, `logvar`) is put into `cond.aux` for the `kl` loss term. Without a photo z is the
    pipeline's seeded N(0, 1) noise. Without the VAE the generator is deterministic (noise_dim 0).
    """

    size_multiple = 1  # any label size: the latent grid comes from it or from the config
    tileable = False  # so a tile would get a grid of its own (and the VAE reads its style photo whole)

    def __init__(self, net: SpadeNet, encoder: ConvEncoder | None = None) -> None:
        super().__init__()
        self.net = net
        self.encoder = encoder
        self.noise_dim = net.z_dim if net.use_vae else 0

    def encode(self, photo: Tensor) -> tuple[Tensor, Tensor]:
        """(B,3,H,W) photo in [-1, 1] -> (mu, logvar), each (B, z_dim)."""
        if self.encoder is None:
            raise ValueError("this SPADE generator has no style encoder")
        return self.encoder(photo)

    @staticmethod
    def sample(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
        """z = mu + eps * exp(logvar / 2): the original's `reparameterize` with a given eps."""
        return mu + eps * torch.exp(0.5 * logvar)

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        if cond.maps is None:
            raise ValueError("the SPADE generator needs the semantic input (Condition.maps)")
        if self.net.use_vae and cond.refs is not None and self.encoder is not None:
            mu, logvar = self.encode(cond.refs)
            if self.training:
                z = self.sample(mu, logvar, torch.randn_like(mu))
                cond.aux.update(mu=mu, logvar=logvar)  # the KL term's input (this pass only)
            else:
                z = mu
        return self.net(cond.maps, z)


def spade_nvlabs(
    label_channels: int,
    ngf: int = 64,
    num_upsampling_layers: str = "normal",
    crop_size: int = 256,
    aspect_ratio: float = 1.0,
    use_vae: bool = False,
    z_dim: int = 256,
    norm: str = "batch",
    kernel_size: int = 3,
    hidden: int = 128,
    spectral: bool = True,
    encoder: bool | None = None,
    encoder_norm: str = "instance",
    encoder_spectral: bool = True,
    init: str = "xavier",
) -> SpadeNVGenerator:
    """The original SPADE generator (``--netG spade``) for `label_channels` input channels
    (label_nc [+1 don't care] [+1 instance edges]); defaults are the original's
    (``--norm_G spectralspadesyncbatch3x3``, ``--norm_E spectralinstance``, xavier init with gain 0.02).
    `encoder` (default: `use_vae`) adds its ConvEncoder (width ngf, as the original's)."""
    spade = {"norm": norm, "kernel_size": kernel_size, "hidden": hidden}
    latent = latent_grid(crop_size, aspect_ratio, num_upsampling_layers)
    net = SpadeNet(label_channels, ngf, num_upsampling_layers, latent, use_vae, z_dim, spade, spectral)
    enc = (
        ConvEncoder(ngf, z_dim, encoder_norm, encoder_spectral)
        if (use_vae if encoder is None else encoder)
        else None
    )
    gen = SpadeNVGenerator(net, enc)
    return init_weights(gen, init) if init != "default" else gen


__all__ = ["ConvEncoder", "SpadeNVGenerator", "SpadeNet", "latent_grid", "spade_nvlabs"]
