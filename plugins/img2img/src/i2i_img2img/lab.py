"""Colorization in CIE Lab, the convention of the original pix2pix colorization model.

That model (`--model colorization`) reads the lightness `L / 50 - 1` (one channel) and predicts
the chroma `ab / 110` (two channels, tanh); its pictures are `skimage.color.lab2rgb` of
(L, 110 * ab). `LabColorizer` wraps such a two-channel network and returns that RGB picture in
[-1, 1], so everything downstream of a generator (the pipeline, folders, video, sample sheets,
image losses, ONNX export) sees an ordinary RGB image, while the conditioner's `color_space: lab`
supplies the L. The wrapped network's raw ab is `LabColorizer.chroma`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from i2i.data.color import lab_to_rgb
from i2i.errors import ConfigError
from i2i.interfaces import Condition, Generator

L_SCALE = 50.0  # input: L / 50 - 1 (L in [0, 100])
AB_SCALE = 110.0  # output: ab / 110


def lab_picture(lightness: Tensor, chroma: Tensor) -> Tensor:
    """(B,1,H,W) L / 50 - 1 and (B,2,H,W) ab / 110 -> (B,3,H,W) sRGB in [-1, 1] (lab2rgb, clipped)."""
    if lightness.shape[-2:] != chroma.shape[-2:]:
        raise ValueError(
            f"lightness is {tuple(lightness.shape[-2:])} but chroma {tuple(chroma.shape[-2:])}: "
            "a Lab colorizer must keep the image size"
        )
    lab = torch.cat([(lightness.float() + 1.0) * L_SCALE, chroma.float() * AB_SCALE], dim=-3)
    return lab_to_rgb(lab) * 2.0 - 1.0


class LabColorizer(Generator):
    """Generator: Condition.maps[:, :1] = L / 50 - 1 -> the wrapped network's ab / 110 -> RGB."""

    noise_dim = 0

    def __init__(self, net: Generator) -> None:
        super().__init__()
        self.net = net

    @property
    def size_multiple(self) -> int:  # type: ignore[override]
        return int(self.net.size_multiple)

    def chroma(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        """The wrapped network's raw output, ab / 110 (the original's `fake_B`)."""
        return self.net(cond, z)

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        if cond.maps is None:
            raise ValueError("LabColorizer needs Condition.maps (the L channel)")
        return lab_picture(cond.maps[:, :1], self.chroma(cond, z)).to(cond.maps.dtype)


def lab_colorizer(net: str = "unet", **options: Any) -> LabColorizer:
    """Factory of `name: lab_colorizer`: `net` names the registered network that predicts ab
    (unet, resnet, unet_256, ...) and the other keys are that network's, in the same section so
    `--set model.generator.ngf=32` reaches it, e.g. ``{name: lab_colorizer, net: unet,
    num_downs: 8, ngf: 64}``. Its channels are L in, ab out (1 and 2, filled in when not given,
    an error when given otherwise)."""
    from i2i.engine.build import build_network

    section = {"in_channels": 1, "out_channels": 2, **options, "name": net}
    if (section["in_channels"], section["out_channels"]) != (1, 2):
        raise ConfigError(
            "model.generator: a Lab colorizer maps L to ab (in_channels 1, out_channels 2), "
            f"not {section['in_channels']} to {section['out_channels']}"
        )
    inner = build_network("generator", section, f"model.generator (net {net})")
    if not isinstance(inner, Generator):
        raise ConfigError(f"model.generator.net: {type(inner).__name__} is not an i2i Generator")
    return LabColorizer(inner)


__all__ = ["AB_SCALE", "L_SCALE", "LabColorizer", "lab_colorizer", "lab_picture"]
