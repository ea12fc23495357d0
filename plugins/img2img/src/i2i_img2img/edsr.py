"""A compact EDSR-style x4 super-resolution generator, the body of the shipped `sr-x4` model.

Why this shape for a CPU budget: every convolution runs at the input (low) resolution, and the
only upsampling is one sub-pixel convolution straight to x`scale` (ESPCN), so a training step
costs about what its residual blocks cost; the `sr_resnet` body spends most of its multiplies at
2x and 4x resolution instead. Residual blocks without normalisation (EDSR) keep the colour scale
that batch norm disturbs in SR. The output is bicubic upsampling plus the predicted residual, and
the last convolution starts at zero, so training starts exactly at bicubic quality.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Generator


class ResBlock(nn.Module):
    """x + res_scale * conv(relu(conv(x))), no normalisation (EDSR)."""

    def __init__(self, nf: int, res_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv2 = nn.Conv2d(nf, nf, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


class EDSRGenerator(Generator):
    """Condition.maps (B, C, h, w) in [-1, 1] -> (B, C_out, h * scale, w * scale)."""

    noise_dim = 0
    size_multiple = 1

    def __init__(
        self, in_channels: int, out_channels: int, n_blocks: int, nf: int, scale: int, res_scale: float
    ) -> None:
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(in_channels, nf, 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(nf, res_scale) for _ in range(n_blocks)))
        self.body_end = nn.Conv2d(nf, nf, 3, padding=1)
        self.tail = nn.Conv2d(nf, out_channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        x = cond.maps
        if x is None:
            raise ValueError("EDSRGenerator needs Condition.maps (the low-resolution image)")
        base = F.interpolate(x.float(), scale_factor=self.scale, mode="bicubic", align_corners=False)
        h = self.head(x)
        h = h + self.body_end(self.blocks(h))
        return (base + self.shuffle(self.tail(h))).to(x.dtype)


def sr_edsr(
    in_channels: int = 3,
    out_channels: int = 3,
    n_blocks: int = 8,
    nf: int = 48,
    scale: int = 4,
    res_scale: float = 1.0,
) -> EDSRGenerator:
    """Factory of `name: sr_edsr` (config keys = these arguments)."""
    return EDSRGenerator(in_channels, out_channels, n_blocks, nf, scale, res_scale)


__all__ = ["EDSRGenerator", "ResBlock", "sr_edsr"]
