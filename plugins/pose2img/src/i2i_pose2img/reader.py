"""pose2img's inference inputs -> the batch entries `PoseDataset` yields. `--pose` is a keypoint
file (OpenPose or COCO JSON, in the source image's pixels), a photo or a video (one output frame per
frame); `--source-pose` is JSON, or extracted from `--source`. Photos and frames go through
MediaPipe's BlazePose (the `mediapipe` extra). A pose video is one stream (`PoseStream`): its own
tracker and last pose, so a second video never starts from the first one's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from i2i.errors import InputError
from i2i.inputs import InputReader, to_rgb
from i2i.keys import VIDEO_FRAME
from i2i_pose2img import extract
from i2i_pose2img.keypoints import fit_points, pose_maps, read_pose_json


@dataclass
class PoseStream:
    tracker: Any = None  # BlazePose in tracking mode, made on the video's first frame
    last: np.ndarray | None = None  # the last pose found, for frames without a person
    frames_without_person: int = 0


class PoseReader(InputReader):
    """`--source` image, `--pose` JSON / photo / video frame, optional `--source-pose` JSON."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.sigma = float(config.model.conditioner.sigma) if config is not None else 6.0
        self._still: Any = None  # the photo extractor: keeps nothing between images

    def new_state(self) -> PoseStream:
        return PoseStream()

    def prepare(self, inputs: Mapping[str, Any], state: PoseStream) -> dict[str, Any]:
        source: Tensor = inputs["source"]
        if source.shape[0] == 1:
            source = source.expand(3, -1, -1)
        h, w = source.shape[-2:]
        if inputs.get("pose") is None:
            raise InputError("--pose", "give the target pose: a keypoint JSON file, a photo or a video")
        stream = state if inputs.get(VIDEO_FRAME) else None
        target = self._keypoints(inputs["pose"], "--pose", (w, h), stream)
        if inputs.get("source_pose"):
            own = self._keypoints(inputs["source_pose"], "--source-pose", (w, h), None)
        else:
            own = self._extract(to_rgb(source), "--source", None)
        return {
            "source": source,
            "source_points": torch.from_numpy(own),
            "target_points": torch.from_numpy(target),
            "target_pose": pose_maps(np.asarray(target), (w, h), (w, h), self.sigma),
        }

    def _keypoints(
        self, value: Any, option: str, size: tuple[int, int], stream: PoseStream | None
    ) -> np.ndarray:
        """A keypoint JSON (pixel coordinates of the source image), a photo or a decoded video frame
        -> (18, 2) keypoints in the source image's pixels (photos and frames fitted by height)."""
        if isinstance(value, Tensor):  # a frame of a pose video
            rgb = to_rgb(value)
            return fit_points(self._extract(rgb, option, stream), rgb.shape[1::-1], size)
        path = Path(value)
        if path.suffix.lower() == ".json":
            return read_pose_json(path)
        from i2i.data.images import read_image

        rgb = np.asarray(read_image(path).convert("RGB"))
        return fit_points(self._extract(rgb, path, None), rgb.shape[1::-1], size)

    def _extract(self, rgb: np.ndarray, where: str | Path, stream: PoseStream | None) -> np.ndarray:
        """BlazePose's keypoints; in a video (`stream`) a frame without a person reuses the last."""
        if stream is None:
            self._still = self._still or extract.PoseExtractor(video=False)
            points = self._still(rgb)
        else:
            stream.tracker = stream.tracker or extract.PoseExtractor(video=True)
            points = stream.tracker(rgb)
            if points is not None:
                stream.last = points
            elif stream.last is not None:
                stream.frames_without_person += 1
                return stream.last
        if points is None:
            raise InputError(where, "no person found (keypoint extraction)")
        return points
