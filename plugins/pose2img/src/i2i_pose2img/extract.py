"""Keypoints from a photo or a video frame, through MediaPipe's BlazePose (the `mediapipe` extra).

MediaPipe 0.10.21 ships BlazePose's detector and landmark models inside its wheel, so extraction
works offline right after `pip install 'i2i-pose2img[mediapipe]'`. BlazePose gives 33 landmarks;
COCO-18 takes 17 of them and derives the neck as the shoulders' midpoint, as for COCO-17. Both use
the person's own left and right. A landmark BlazePose thinks is not visible, or that falls outside
the image, is missing (-1), as in every other reader.

This module imports neither torch nor mediapipe at import time: mediapipe is imported when the
first extractor is made, and its absence is a one-line error saying how to install it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from i2i.errors import ConfigError
from i2i_pose2img.keypoints import KEYPOINTS, MISSING

# BlazePose's 33 landmarks in its order (mediapipe's PoseLandmark enum, lower-cased).
BLAZEPOSE = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)  # fmt: skip


def _blazepose_index(name: str) -> int | None:
    full = name.replace("r_", "right_", 1) if name.startswith("r_") else name
    full = full.replace("l_", "left_", 1) if full.startswith("l_") else full
    return BLAZEPOSE.index(full) if full in BLAZEPOSE else None


# BlazePose index for each COCO-18 keypoint (None: the neck, derived from the shoulders).
BLAZEPOSE_TO_COCO_18: tuple[int | None, ...] = tuple(_blazepose_index(n) for n in KEYPOINTS)
VISIBLE = 0.5
INSTALL = (
    "keypoints from photos and videos need the mediapipe extra: pip install 'i2i-pose2img[mediapipe]'"
    " (or give keypoint JSON files: --pose, --source-pose)"
)


def from_blazepose(landmarks: Sequence[Any], width: int, height: int, visible: float = VISIBLE) -> np.ndarray:
    """33 BlazePose landmarks (objects with x, y normalised to the image and a visibility) ->
    (18, 2) COCO-18 pixel keypoints, -1 where missing."""
    out = np.full((len(KEYPOINTS), 2), MISSING, np.float32)

    def point(index: int) -> np.ndarray | None:
        lm = landmarks[index]
        x, y = float(lm.x) * width, float(lm.y) * height
        if float(getattr(lm, "visibility", 1.0)) < visible or not (0 <= x < width and 0 <= y < height):
            return None
        return np.array([x, y], np.float32)

    for k, index in enumerate(BLAZEPOSE_TO_COCO_18):
        if index is not None and (p := point(index)) is not None:
            out[k] = p
    r, left = point(BLAZEPOSE.index("right_shoulder")), point(BLAZEPOSE.index("left_shoulder"))
    if r is not None and left is not None:
        out[KEYPOINTS.index("neck")] = (r + left) / 2
    return out


class PoseExtractor:
    """BlazePose on RGB uint8 frames; `video=True` tracks across consecutive frames (faster and
    steadier than detecting every frame from scratch)."""

    def __init__(self, video: bool = False, complexity: int = 1) -> None:
        try:
            from mediapipe.python.solutions import pose
        except ImportError:
            raise ConfigError(INSTALL) from None
        self._pose = pose.Pose(static_image_mode=not video, model_complexity=complexity)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) uint8 -> (18, 2) pixel keypoints, or None when no person is found."""
        result = self._pose.process(np.ascontiguousarray(rgb))
        if result.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        return from_blazepose(result.pose_landmarks.landmark, w, h)

    def close(self) -> None:
        self._pose.close()
