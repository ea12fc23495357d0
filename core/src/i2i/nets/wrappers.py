"""Adapters from the plain networks to the engine's Generator/Discriminator roles, and the
factories that configs name (see catalog.py).

The plain networks (UNet, ResnetGenerator, PatchGAN) know nothing about Conditions, so they stay
reusable by any modality; these wrappers decide which part of the Condition they consume. A
factory receives exactly the keyword arguments of a config section (minus ``name``), e.g.
``{name: unet, in_channels: 3, out_channels: 3, num_downs: 8, ngf: 64, norm: batch, dropout: true}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Discriminator, DOutput, Generator
from i2i.nets.init import init_weights
from i2i.nets.patchgan import MultiScalePatchGAN
from i2i.nets.resnet import ResnetGenerator
from i2i.nets.unet import UNet


def _spatial(cond: Condition, who: str) -> Tensor:
    if cond.maps is None:
        raise ValueError(f"{who} needs a spatial condition (Condition.maps), but it is None")
    return cond.maps


class MapsGenerator(Generator):
    """A Generator that feeds Condition.maps to an image-to-image network.

    Takes no noise (noise_dim 0): like pix2pix, its stochasticity, if any, comes from dropout, so a
    `z` passed in is ignored.
    """

    noise_dim = 0

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    @property
    def size_multiple(self) -> int:
        """Input H and W must be multiples of this; the pipeline pads other sizes to it."""
        depth = getattr(self.net, "num_downs", None)
        if depth is None:
            depth = getattr(self.net, "downsample", 0)
        return 2**depth

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        return self.net(_spatial(cond, type(self).__name__))


class ConcatPatchDiscriminator(Discriminator):
    """A conditional PatchGAN judging the pair (condition, image) stacked along channels.

    The condition comes first, as pix2pix's ``torch.cat((real_A, real_B), 1)``; if its spatial
    size differs from the image's (e.g. a low-resolution input for super-resolution) it is resized
    bilinearly to match. With cond_channels 0 the condition is ignored (unconditional D).
    """

    def __init__(self, net: MultiScalePatchGAN, cond_channels: int) -> None:
        super().__init__()
        self.net = net
        self.cond_channels = cond_channels

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        x = image
        if self.cond_channels:
            maps = _spatial(cond, type(self).__name__)
            if maps.shape[-2:] != image.shape[-2:]:
                maps = F.interpolate(
                    maps.float(), size=image.shape[-2:], mode="bilinear", align_corners=False
                )
            x = torch.cat([maps.to(image.dtype), image], dim=1)
        return [DOutput(logits, features) for logits, features in self.net(x)]


def unet_generator(
    in_channels: int,
    out_channels: int,
    num_downs: int = 8,
    ngf: int = 64,
    norm: str = "batch",
    dropout: bool = True,
    init: str = "normal",
) -> MapsGenerator:
    """pix2pix U-Net generator (num_downs 8 for 256x256 inputs, 7 for 128x128)."""
    net = UNet(in_channels, out_channels, num_downs=num_downs, ngf=ngf, norm=norm, dropout=dropout)
    return MapsGenerator(init_weights(net, init))


def resnet_generator(
    in_channels: int,
    out_channels: int,
    n_blocks: int = 9,
    ngf: int = 64,
    norm: str = "batch",
    dropout: bool = False,
    upscale: int = 1,
    downsample: int = 2,
    init: str = "normal",
) -> MapsGenerator:
    """pix2pix/CycleGAN ResNet generator; upscale 2 or 4 makes it a super-resolution generator."""
    net = ResnetGenerator(
        in_channels,
        out_channels,
        n_blocks=n_blocks,
        ngf=ngf,
        norm=norm,
        dropout=dropout,
        upscale=upscale,
        downsample=downsample,
    )
    return MapsGenerator(init_weights(net, init))


def patchgan(
    image_channels: int = 3,
    cond_channels: int = 3,
    ndf: int = 64,
    n_layers: int = 3,
    norm: str = "batch",
    spectral: bool = False,
    num_scales: int = 1,
    init: str = "normal",
) -> ConcatPatchDiscriminator:
    """Conditional (multi-scale) PatchGAN over [condition, image]; 70x70 patches by default."""
    net = MultiScalePatchGAN(
        image_channels + cond_channels,
        ndf=ndf,
        n_layers=n_layers,
        norm=norm,
        spectral=spectral,
        num_scales=num_scales,
    )
    return ConcatPatchDiscriminator(init_weights(net, init), cond_channels)


def _preset(factory: Callable[..., nn.Module], name: str, doc: str, **fixed: Any) -> Callable[..., nn.Module]:
    """A named factory with some arguments fixed, RGB in and out by default, and an honest signature
    (the engine checks config keys against it), so presets need no copied parameter lists."""

    def build(in_channels: int = 3, out_channels: int = 3, **kwargs: Any) -> nn.Module:
        return factory(in_channels, out_channels, **kwargs, **fixed)

    sig = inspect.signature(factory)
    params = [
        p.replace(default=3) if p.name in ("in_channels", "out_channels") else p
        for p in sig.parameters.values()
        if p.name not in fixed
    ]
    build.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return build


unet_128 = _preset(
    unet_generator, "unet_128", "Preset: pix2pix's ``--netG unet_128`` (7 levels, 128x128).", num_downs=7
)
unet_256 = _preset(
    unet_generator, "unet_256", "Preset: pix2pix's ``--netG unet_256`` (8 levels, 256x256).", num_downs=8
)
resnet_6blocks = _preset(
    resnet_generator, "resnet_6blocks", "Preset: pix2pix's ``--netG resnet_6blocks``.", n_blocks=6
)
resnet_9blocks = _preset(
    resnet_generator, "resnet_9blocks", "Preset: pix2pix's ``--netG resnet_9blocks``.", n_blocks=9
)
