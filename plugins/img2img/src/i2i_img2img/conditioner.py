"""The img2img condition is the input image itself, concatenated to the generator's and the
discriminator's input as pix2pix does; the only work is matching the channel count the model was
trained with, so a colour photo given to a colorization model (trained on gray) just works.

`color_space` says what a colorization model's one input channel is: "rgb" (i2i's own colorize
preset) is the BT.601 luma in [-1, 1]; "lab" (the original pix2pix colorization model) is CIE L*
as its dataset makes it, `rgb2lab(photo)[L] / 50 - 1`, paired with the `lab_colorizer` generator
that turns the predicted ab back into RGB (see `i2i_img2img.lab`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from i2i.errors import ConfigError
from i2i.interfaces import Condition, Conditioner

# ITU-R BT.601 luma, the weights PIL's convert("L") uses, so training (PIL) and inference agree.
_LUMA = (0.299, 0.587, 0.114)
COLOR_SPACES = ("rgb", "lab")


def to_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """A (..., C, H, W) image in [-1, 1] with C of 1 or 3 -> the same image with `channels` channels."""
    have = image.shape[-3]
    if have == channels:
        return image
    if channels == 1 and have == 3:
        weights = torch.tensor(_LUMA, dtype=image.dtype, device=image.device).view(3, 1, 1)
        return (image * weights).sum(dim=-3, keepdim=True)
    if channels == 3 and have == 1:
        return image.expand(*image.shape[:-3], 3, *image.shape[-2:]).contiguous()
    raise ValueError(f"cannot turn a {have}-channel image into {channels} channels")


def lab_lightness(image: torch.Tensor) -> torch.Tensor:
    """A (..., 1|3, H, W) image in [-1, 1] -> (..., 1, H, W) CIE L* / 50 - 1, the input of the
    original pix2pix colorization model. One channel is gray, as the original reads a gray file
    (PIL convert("RGB") repeats it), so gray and colour photos of one scene agree."""
    from i2i.data.color import rgb_to_lightness

    rgb = to_channels(image, 3).add(1.0).mul(0.5)
    return rgb_to_lightness(rgb) / 50.0 - 1.0


class Img2ImgConditioner(Conditioner):
    """Condition(maps=input image). `task` is kept so a model file says what it was trained for;
    `color_space` "lab" makes the condition the Lab lightness (needs input_channels 1)."""

    def __init__(self, task: str = "paired", input_channels: int = 3, color_space: str = "rgb") -> None:
        super().__init__()
        if color_space not in COLOR_SPACES:
            raise ConfigError(
                f"model.conditioner.color_space must be one of {', '.join(COLOR_SPACES)}, not {color_space!r}"
            )
        if color_space == "lab" and int(input_channels) != 1:
            raise ConfigError(
                "model.conditioner.color_space lab reads one channel (L): "
                f"input_channels must be 1, not {input_channels}"
            )
        self.task = task
        self.input_channels = int(input_channels)
        self.color_space = color_space

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        image = batch["input"]
        if self.color_space == "lab":
            return Condition(maps=lab_lightness(image))
        return Condition(maps=to_channels(image, self.input_channels))

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(inputs)
        if self.color_space != "lab":  # Lab: L is computed from the full photo in forward
            out["input"] = to_channels(inputs["input"], self.input_channels)
        return out
