"""img2img's importer of generators trained with the original pix2pix/CycleGAN code
(``latest_net_G.pth``). Reading the file, inferring the architecture from its keys and mapping the
weights onto a core network are the core's (`i2i.nets.pix2pix_import`); this module only turns the
result into the override of img2img's default config.

A generator with 1 input and 2 output channels is the original's colorization model
(`--model colorization`: its dataset sets input_nc 1, output_nc 2): L in, ab out, in CIE Lab. It
is imported as a `lab_colorizer` around the network with the conditioner's `color_space: lab`, so
it gives RGB photos as the original's `fake_B_rgb`, and the model file it saves keeps that.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.nets.pix2pix_import import load_pix2pix_generator

if TYPE_CHECKING:
    from i2i.interfaces import Generator


def is_lab_colorizer(config: dict[str, Any]) -> bool:
    """Whether an imported generator section is the original colorization model's (1 in, 2 out)."""
    return (config["in_channels"], config["out_channels"]) == (1, 2)


def import_pix2pix(path: str | Path) -> tuple[dict[str, Any], Generator]:
    """The img2img modality's importer hook: (config override, generator) for `i2i-run --checkpoint`.

    The override replaces the generator section of the plugin's default config; a generator that
    does not read 3-channel images also sets the conditioner's input channels, and a colorization
    generator (L -> ab) the Lab colour space, the colorize data task and a discriminator that
    reads the one-channel condition.
    """
    config, generator = load_pix2pix_generator(path)
    if is_lab_colorizer(config):
        from i2i_img2img.lab import LabColorizer

        override = {
            "model": {
                "generator": {**config, "name": "lab_colorizer", "net": config["name"]},
                "conditioner": {"task": "colorize", "input_channels": 1, "color_space": "lab"},
                "discriminator": {"cond_channels": 1},
            },
            "data": {"task": "colorize", "input_channels": 1},
        }
        return override, LabColorizer(generator)
    model: dict[str, Any] = {"generator": config}
    if config["in_channels"] != 3:
        model["conditioner"] = {"input_channels": config["in_channels"]}
    return {"model": model}, generator


__all__ = ["import_pix2pix", "is_lab_colorizer", "load_pix2pix_generator"]
