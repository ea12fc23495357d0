"""The unpaired condition: the input image plus the direction to translate it in.

`DirectionReader` reads `i2i-run`'s inputs (the image, and `--direction AtoB|BtoA`, already parsed
by the core as a choice input) into batch entries; `DirectionConditioner` turns them into
`Condition(maps=image, parts={"direction": 0 or 1 per sample})`, which the two-way generator
routes (`i2i_unpaired.nets`). Neither keeps any per-stream state: every frame of a video is
translated on its own, as the original CycleGAN does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from i2i.errors import InputError
from i2i.inputs import InputReader
from i2i.interfaces import Condition, Conditioner
from i2i.keys import INPUT
from i2i_unpaired.nets import DIRECTION
from i2i_unpaired.plugin import DIRECTIONS


def direction_index(value: Any) -> int:
    """ "AtoB" -> 0, "BtoA" -> 1; anything else is a one-line InputError naming --direction."""
    if value in DIRECTIONS:
        return DIRECTIONS.index(value)
    raise InputError("--direction", f"must be one of {', '.join(DIRECTIONS)}, got {value!r}")


def rgb(image: torch.Tensor) -> torch.Tensor:
    """A (1|3|4,H,W) image in [-1, 1] as 3 channels (gray repeated, alpha dropped)."""
    if image.shape[0] == 1:
        return image.expand(3, *image.shape[1:]).contiguous()
    return image[:3]


class DirectionReader(InputReader):
    """`--input` (image, folder or video frames) and `--direction` -> {"input", "direction"}."""

    def prepare(self, inputs: Mapping[str, Any], state: Any) -> dict[str, Any]:
        way = direction_index(inputs.get(DIRECTION, DIRECTIONS[0]))
        return {INPUT: rgb(inputs[INPUT]), DIRECTION: torch.tensor(way, dtype=torch.long)}


class DirectionConditioner(Conditioner):
    """Condition(maps=input image, parts={"direction": (B,) long}); no weights."""

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        image = batch[INPUT]
        way = batch.get(DIRECTION)
        if way is None:
            way = torch.zeros(image.shape[0], dtype=torch.long, device=image.device)
        return Condition(maps=image, parts={DIRECTION: way.reshape(-1).to(image.device)})

    def condition(self, image: torch.Tensor, way: int) -> Condition:
        """The Condition translating every image of a batch in one direction (the recipe's)."""
        return self({INPUT: image, DIRECTION: torch.full((image.shape[0],), way, dtype=torch.long)})
