"""img2img's importer of generators trained with the original pix2pix/CycleGAN code
(``latest_net_G.pth``). Reading the file, inferring the architecture from its keys and mapping the
weights onto a core network are the core's (`i2i.nets.pix2pix_import`); this module only turns the
result into the override of img2img's default config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.nets.pix2pix_import import load_pix2pix_generator

if TYPE_CHECKING:
    from i2i.interfaces import Generator


def import_pix2pix(path: str | Path) -> tuple[dict[str, Any], Generator]:
    """The img2img modality's importer hook: (config override, generator) for `i2i-run --checkpoint`.

    The override replaces the generator section of the plugin's default config; a generator that
    does not read 3-channel images also sets the conditioner's input channels.
    """
    config, generator = load_pix2pix_generator(path)
    model: dict[str, Any] = {"generator": config}
    if config["in_channels"] != 3:
        model["conditioner"] = {"input_channels": config["in_channels"]}
    return {"model": model}, generator


__all__ = ["import_pix2pix", "load_pix2pix_generator"]
