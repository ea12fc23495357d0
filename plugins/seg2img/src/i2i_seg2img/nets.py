"""seg2img networks: the core's SPADE generator and multi-scale PatchGAN, sized from the class
count (one one-hot channel per class plus one instance-edge channel), and SPADE's style encoder.

Several plausible photos per map: the generator's SPADE layers also take a style vector. In
training it is the style encoder's code of the real photo (a VAE, with a KL term pulling codes
towards N(0, 1)); at inference it is N(0, 1) noise (`--seed`, `--num-samples`) or the code of an
example photo (`--style`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Generator
from i2i.nets.norm import maybe_spectral
from i2i.nets.spade import SPADEGenerator
from i2i.nets.wrappers import ConcatPatchDiscriminator, patchgan


def label_channels(num_classes: int) -> int:
    return num_classes + 1  # one-hot classes + instance edges


class SegGenerator(Generator):
    """Condition(maps=one-hot+edges, vector=style code or None) + z -> photo."""

    def __init__(self, net: SPADEGenerator) -> None:
        super().__init__()
        self.net = net
        self.noise_dim = net.style_dim

    @property
    def size_multiple(self) -> int:
        return self.net.size_multiple

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        if cond.maps is None:
            raise ValueError("the seg2img generator needs label maps (Condition.maps)")
        style = cond.vector if cond.vector is not None else z
        if style is None and self.noise_dim:
            style = cond.maps.new_zeros(cond.maps.shape[0], self.noise_dim)
        return self.net(cond.maps, style)


def spade(
    num_classes: int,
    ngf: int = 64,
    levels: int = 5,
    hidden: int = 128,
    style_dim: int = 64,
    norm: str = "instance",
    spectral: bool = True,
) -> SegGenerator:
    """SPADE generator for `num_classes` classes; H and W must be multiples of 2**levels."""
    net = SPADEGenerator(label_channels(num_classes), 3, ngf, levels, hidden, style_dim, norm, spectral)
    return SegGenerator(net)


def spade_patchgan(
    num_classes: int,
    ndf: int = 64,
    n_layers: int = 4,
    num_scales: int = 2,
    norm: str = "instance",
    spectral: bool = True,
    cond_channels: int | None = None,
) -> ConcatPatchDiscriminator:
    """SPADE's discriminator: multi-scale PatchGANs on [one-hot labels + edges, image].

    cond_channels: the width of `Condition.maps` when it is not num_classes + 1 (an imported
    SPADE layout with a don't-care channel or without the edge channel: `spade_nvlabs`'s
    label_channels). n_layers counts the stride-2 and stride-1 hidden layers as the core's
    PatchGAN does: 3 here is the original SPADE's ``--n_layers_D 4``."""
    channels = label_channels(num_classes) if cond_channels is None else int(cond_channels)
    return patchgan(3, channels, ndf, n_layers, norm, spectral, num_scales)


class StyleEncoder(nn.Module):
    """Photo -> (mu, logvar) of a style code, as SPADE's ConvEncoder (smaller): strided convs with
    instance norm, global average pooling, two linear heads. Input resized to `size` first, so a
    style example of any size works."""

    def __init__(self, style_dim: int = 64, ngf: int = 32, size: int = 64) -> None:
        super().__init__()
        self.size = size
        layers: list[nn.Module] = []
        c = 3
        for i in range(4):
            out = ngf * min(2**i, 8)
            layers += [
                maybe_spectral(nn.Conv2d(c, out, 3, stride=2, padding=1), True),
                nn.InstanceNorm2d(out, affine=True),
                nn.LeakyReLU(0.2),
            ]
            c = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.mu = nn.Linear(c, style_dim)
        self.logvar = nn.Linear(c, style_dim)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        if image.shape[-2:] != (self.size, self.size):
            image = F.interpolate(image, size=(self.size, self.size), mode="bilinear", align_corners=False)
        f = self.body(image)
        return self.mu(f), self.logvar(f).clamp(-10, 10)


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)), summed over code dimensions, mean over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()
