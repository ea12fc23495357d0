"""Source person + target pose -> Condition: the warped source (the warping prior), part masks, the
target pose maps and the source image itself, stacked as maps; the source also as `refs` for the
appearance discriminator.

At inference the target pose comes from `--pose`: a keypoint file (OpenPose or COCO JSON, in the
source image's pixel coordinates), a photo, or a video (one output frame per frame); keypoints of
photos and frames are extracted with MediaPipe (the `mediapipe` extra). The source person's own pose
comes from `--source-pose` (JSON) or is extracted from `--source`.
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
from i2i.pipeline import VIDEO_FRAME
from i2i_pose2img.keypoints import fit_points, pose_maps, read_pose_json
from i2i_pose2img.warp import normalise, warp_parts

POSE_CHANNELS = 18 + 17


def _to_rgb(image: Tensor) -> np.ndarray:
    """(3,H,W) in [-1, 1] -> (H,W,3) uint8, what a keypoint detector reads."""
    return ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


class PoseConditioner(Conditioner):
    def __init__(self, part_width: float = 0.08, sigma: float = 6.0) -> None:
        super().__init__()
        self.part_width = float(part_width)
        self.sigma = float(sigma)
        self._extractors: dict[str, Any] = {}  # made on first use: mediapipe is an optional extra
        self._last: np.ndarray | None = None
        self.frames_without_person = 0

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
        if inputs.get("pose") is None:
            raise InputError("--pose", "give the target pose: a keypoint JSON file, a photo or a video")
        target = self._keypoints(inputs["pose"], "--pose", (w, h), track=bool(inputs.get(VIDEO_FRAME)))
        if inputs.get("source_pose"):
            own = self._keypoints(inputs["source_pose"], "--source-pose", (w, h))
        else:
            own = self._extract(_to_rgb(source), "--source", track=False)
        return {
            "source": source,
            "source_points": torch.from_numpy(own),
            "target_points": torch.from_numpy(target),
            "target_pose": pose_maps(np.asarray(target), (w, h), (w, h), self.sigma),
        }

    def _keypoints(self, value: Any, option: str, size: tuple[int, int], track: bool = False) -> np.ndarray:
        """A keypoint JSON (pixel coordinates of the source image), a photo or a decoded video frame
        -> (18, 2) keypoints in the source image's pixels (photos and frames fitted by height)."""
        if isinstance(value, Tensor):  # a frame of a pose video
            rgb = _to_rgb(value)
            return fit_points(self._extract(rgb, option, track), rgb.shape[1::-1], size)
        path = Path(value)
        if path.suffix.lower() == ".json":
            return read_pose_json(path)
        from i2i.data.images import read_image

        rgb = np.asarray(read_image(path).convert("RGB"))
        return fit_points(self._extract(rgb, path, track=False), rgb.shape[1::-1], size)

    def _extract(self, rgb: np.ndarray, where: str | Path, track: bool) -> np.ndarray:
        """Keypoints found by BlazePose; in a video a frame without a person reuses the last pose."""
        from i2i_pose2img.extract import PoseExtractor

        key = "video" if track else "image"
        if key not in self._extractors:
            self._extractors[key] = PoseExtractor(video=track)
        points = self._extractors[key](rgb)
        if points is None and track and self._last is not None:
            self.frames_without_person += 1
            return self._last
        if points is None:
            raise InputError(where, "no person found (keypoint extraction)")
        if track:
            self._last = points
        return points

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        assert cond.maps is not None
        return cond.maps[:, :3]
