"""The img2img condition is the input image itself, concatenated to the generator's and the
discriminator's input as pix2pix does; the only work is matching the channel count the model was
trained with, so a colour photo given to a colorization model (trained on gray) just works."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from i2i.interfaces import Condition, Conditioner

# ITU-R BT.601 luma, the weights PIL's convert("L") uses, so training (PIL) and inference agree.
_LUMA = (0.299, 0.587, 0.114)


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


class Img2ImgConditioner(Conditioner):
    """Condition(maps=input image). `task` is kept so a model file says what it was trained for."""

    def __init__(self, task: str = "paired", input_channels: int = 3) -> None:
        super().__init__()
        self.task = task
        self.input_channels = int(input_channels)

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        return Condition(maps=to_channels(batch["input"], self.input_channels))

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(inputs)
        out["input"] = to_channels(inputs["input"], self.input_channels)
        return out
