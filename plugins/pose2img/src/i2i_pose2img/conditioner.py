"""Source person + target pose -> Condition: the warped source (the warping prior), part masks, the
target pose maps and the source image itself, stacked as maps; the source also as `refs` for the
appearance discriminator.

At inference the target pose comes from a keypoint file (`--pose`: OpenPose or COCO JSON) and the
source person's own pose from `--source-pose`, both in the pixel coordinates of their images.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from i2i.errors import InputError
from i2i.interfaces import Condition, Conditioner
from i2i_pose2img.keypoints import pose_maps, read_pose_json, scale_points
from i2i_pose2img.warp import normalise, warp_parts

POSE_CHANNELS = 18 + 17


class PoseConditioner(Conditioner):
    def __init__(self, part_width: float = 0.08, sigma: float = 6.0) -> None:
        super().__init__()
        self.part_width = float(part_width)
        self.sigma = float(sigma)

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        source = batch["source"]
        h, w = source.shape[-2:]
        warp = warp_parts(
            source,
            normalise(batch["source_points"], w, h),
            normalise(batch["target_points"], w, h),
            self.part_width,
        )
        maps = torch.cat([warp.to(source.dtype), batch["target_pose"].to(source.dtype), source], dim=1)
        return Condition(maps=maps, refs=source)

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        source: Tensor = inputs["source"]
        if source.shape[0] == 1:
            source = source.expand(3, -1, -1)
        h, w = source.shape[-2:]
        if not inputs.get("pose"):
            raise InputError("--pose", "give the target pose as an OpenPose or COCO keypoint JSON file")
        if not inputs.get("source_pose"):
            raise InputError(
                "--source-pose",
                "give the source person's keypoints (JSON); extraction from the photo needs the "
                "mediapipe extra: pip install './plugins/pose2img[mediapipe]'",
            )
        target = read_pose_json(Path(inputs["pose"]))
        own = read_pose_json(Path(inputs["source_pose"]))
        frame = inputs.get("pose_size") or (w, h)
        target = scale_points(target, tuple(frame), (w, h))
        return {
            "source": source,
            "source_points": torch.from_numpy(own),
            "target_points": torch.from_numpy(target),
            "target_pose": pose_maps(np.asarray(target), (w, h), (w, h), self.sigma),
        }

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        assert cond.maps is not None
        return cond.maps[:, :3]
