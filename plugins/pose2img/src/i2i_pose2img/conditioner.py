"""Source person + target pose -> Condition, by name: `parts["warp"]` (the source warped part by
part onto the target pose, with the part masks), `parts["pose"]` (target pose maps), `refs` (the
source, the appearance reference); `maps` stacks the three for the U-Net (core `unet`). Raw inputs
are read by `i2i_pose2img.reader.PoseReader`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from i2i.interfaces import Condition, Conditioner
from i2i_pose2img.warp import normalise, warp_parts

POSE_CHANNELS = 18 + 17


class PoseConditioner(Conditioner):
    def __init__(self, part_width: float = 0.08, sigma: float = 6.0) -> None:
        super().__init__()
        self.part_width = float(part_width)
        self.sigma = float(sigma)  # used by the dataset and the reader; kept so the config says it

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        source = batch["source"]
        h, w = source.shape[-2:]
        warp = warp_parts(
            source,
            normalise(batch["source_points"], w, h),
            normalise(batch["target_points"], w, h),
            self.part_width,
        ).to(source.dtype)
        pose = batch["target_pose"].to(source.dtype)
        maps = torch.cat([warp, pose, source], dim=1)
        return Condition(maps=maps, refs=source, parts={"warp": warp, "pose": pose})

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        return cond.parts["warp"][:, :3]  # the warped source (its RGB, before the part masks)
