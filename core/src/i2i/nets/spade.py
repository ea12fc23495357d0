"""SPADE: spatially-adaptive normalisation (Park et al. 2019), with an optional style vector.

A label map fed only at a generator's input is washed out by the normalisation layers that follow
(a uniform region normalises to zero); SPADE instead normalises every activation without learned
affine parameters and then scales and shifts each pixel from the label map, resampled to that
layer's size, so the layout reaches every resolution.

Here the per-pixel scale and shift may also take a global style vector (noise or a style
encoder's code), added to the label-driven ones as in FiLM: the label map says *where* each class
is, the style says *how* it looks. That gives several plausible photos per map from one network,
and survives instance normalisation (a spatially constant input added once would be removed by it).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from i2i.nets.norm import maybe_spectral


def _param_free_norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=False)
    raise ValueError(f"SPADE norm must be 'instance' or 'batch'; got {kind!r}")


class SPADE(nn.Module):
    """norm(x) * (1 + gamma(labels, style)) + beta(labels, style), gamma/beta per pixel and channel."""

    def __init__(
        self,
        channels: int,
        label_channels: int,
        hidden: int = 128,
        style_dim: int = 0,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        self.norm = _param_free_norm(norm, channels)
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)
        self.style = nn.Linear(style_dim, 2 * channels) if style_dim else None

    def forward(self, x: Tensor, labels: Tensor, style: Tensor | None = None) -> Tensor:
        labels = F.interpolate(labels.to(x.dtype), size=x.shape[-2:], mode="nearest")
        a = self.shared(labels)
        gamma, beta = self.gamma(a), self.beta(a)
        if self.style is not None and style is not None:
            s_gamma, s_beta = self.style(style.to(x.dtype)).chunk(2, dim=1)
            gamma = gamma + s_gamma[:, :, None, None]
            beta = beta + s_beta[:, :, None, None]
        return self.norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """SPADE's residual block: (SPADE, LeakyReLU, conv) twice, and a SPADE-normalised 1x1 shortcut
    when the width changes. Spectral norm on the convolutions, as SPADE's generator uses."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        label_channels: int,
        hidden: int = 128,
        style_dim: int = 0,
        norm: str = "instance",
        spectral: bool = True,
    ) -> None:
        super().__init__()
        mid = min(c_in, c_out)
        self.conv_0 = maybe_spectral(nn.Conv2d(c_in, mid, 3, padding=1), spectral)
        self.conv_1 = maybe_spectral(nn.Conv2d(mid, c_out, 3, padding=1), spectral)
        self.norm_0 = SPADE(c_in, label_channels, hidden, style_dim, norm)
        self.norm_1 = SPADE(mid, label_channels, hidden, style_dim, norm)
        self.shortcut = None
        if c_in != c_out:
            self.shortcut = maybe_spectral(nn.Conv2d(c_in, c_out, 1, bias=False), spectral)
            self.norm_s = SPADE(c_in, label_channels, hidden, style_dim, norm)

    def forward(self, x: Tensor, labels: Tensor, style: Tensor | None = None) -> Tensor:
        skip = x if self.shortcut is None else self.shortcut(self.norm_s(x, labels, style))
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, labels, style), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, labels, style), 0.2))
        return skip + dx


class SPADEGenerator(nn.Module):
    """(label maps (B, label_channels, H, W), style (B, style_dim) or None) -> (B, out, H, W).

    Starts from the label map downsampled by 2**levels (SPADE's "no encoder" input), then one
    SPADE block per resolution up to H x W. Widths: ngf * 16 at the coarse end, halving per level
    down to ngf, as SPADE. H and W must be multiples of 2**levels (`size_multiple`).
    """

    def __init__(
        self,
        label_channels: int,
        out_channels: int = 3,
        ngf: int = 64,
        levels: int = 5,
        hidden: int = 128,
        style_dim: int = 0,
        norm: str = "instance",
        spectral: bool = True,
    ) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1; got {levels}")
        self.levels = levels
        self.style_dim = style_dim
        widths = [ngf * min(16, 2 ** (levels - i)) for i in range(levels + 1)]
        self.head = nn.Conv2d(label_channels, widths[0], 3, padding=1)

        def block(c_in: int, c_out: int) -> SPADEResBlock:
            return SPADEResBlock(c_in, c_out, label_channels, hidden, style_dim, norm, spectral)

        self.middle = block(widths[0], widths[0])
        self.blocks = nn.ModuleList(block(widths[i], widths[i + 1]) for i in range(levels))
        self.to_rgb = nn.Conv2d(widths[-1], out_channels, 3, padding=1)

    @property
    def size_multiple(self) -> int:
        return 2**self.levels

    def forward(self, labels: Tensor, style: Tensor | None = None) -> Tensor:
        h, w = labels.shape[-2:]
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(f"label map size {h}x{w} is not a multiple of {m}")
        x = self.head(F.interpolate(labels, size=(h // m, w // m), mode="nearest"))
        x = self.middle(x, labels, style)
        for block in self.blocks:
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"), labels, style)
        return self.to_rgb(F.leaky_relu(x, 0.2)).tanh()


def levels_for(size: int, start: int = 4) -> int:
    """How many x2 levels take `start` up to `size` (both powers of two times the same factor)."""
    n = math.log2(size / start)
    if n < 1 or n != int(n):
        raise ValueError(f"size {size} is not start {start} times a power of two")
    return int(n)
