"""The small fully convolutional network every proxy judge is made of.

A judge must be cheap to train on a plugin's demo data (seconds to a minute on a CPU) and see
whole-image context at low resolution: three stride-2 stages down, then upsampling back with skips.
Per-pixel outputs serve both a segmenter (class logits) and a keypoint detector (one heatmap per
keypoint)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU(),
    )  # fmt: skip


class ProxyFCN(nn.Module):
    """(B, in_channels, H, W) -> (B, out_channels, H, W) logits."""

    def __init__(self, out_channels: int, width: int = 32, in_channels: int = 3) -> None:
        super().__init__()
        self.s0 = _stage(in_channels, width, 1)
        self.s1 = _stage(width, width * 2, 2)
        self.s2 = _stage(width * 2, width * 4, 2)
        self.s3 = _stage(width * 4, width * 4, 2)
        self.u2 = _stage(width * 8, width * 2, 1)
        self.u1 = _stage(width * 4, width, 1)
        self.u0 = _stage(width * 2, width, 1)
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits at the input's resolution, for any H, W: upsampled features are resized to each skip."""
        f0 = self.s0(x)
        f1 = self.s1(f0)
        f2 = self.s2(f1)
        f3 = self.s3(f2)

        def up(a: Tensor, skip: Tensor) -> Tensor:
            a = F.interpolate(a, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            return torch.cat([a, skip], 1)

        x = self.u2(up(f3, f2))
        x = self.u1(up(x, f1))
        x = self.u0(up(x, f0))
        return self.head(x)
