"""face2img's inference inputs -> the batch entries `FaceClips` yields. The portraits' landmarks
come from `--portrait-landmarks` (JSON) or a detector (dlib or face-alignment, `--landmarks`), the
driving landmarks from a JSON file, a photo or the frames of a video. They are retargeted onto the
portrait before anything is drawn, so the driving person's face shape does not leak in: one
driving face gives its expression placed where the portrait's face is; a video its motion relative
to its own first frame. With several portraits, the one closest to the driving pose is warped and
all of them make the identity. A driving video is one stream (`FaceStream`: its first frame and
last landmarks), so a second video is never retargeted against the first one's reference.
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
from i2i_face2img.data import sketch_tensor
from i2i_face2img.landmarks import apply, read_landmarks_json, retarget, similarity


@dataclass
class FaceStream:
    reference: np.ndarray | None = None  # the driving landmarks of the video's first frame
    last: np.ndarray | None = None  # the last driving landmarks found, for frames without a face
    frames_without_face: int = 0


class FaceReader(InputReader):
    """`--portrait` (repeatable), `--driving` JSON / photo / video frame, `--portrait-landmarks`,
    `--landmarks` (the detector)."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.backend = str(config.model.conditioner.landmarks) if config is not None else "auto"
        self._detectors: dict[str, Any] = {}  # per backend; a detector keeps nothing between images

    def new_state(self) -> FaceStream:
        return FaceStream()

    def detector(self, backend: str) -> Any:
        if backend not in self._detectors:
            from i2i_face2img.detect import landmark_backend

            self._detectors[backend] = landmark_backend(backend)
        return self._detectors[backend]

    def _detect(self, rgb: np.ndarray, where: str | Path, backend: str) -> np.ndarray:
        points = self.detector(backend)(rgb)
        if points is None:
            raise InputError(where, "no face found")
        return points

    def portrait_points(
        self, inputs: Mapping[str, Any], portraits: list[Tensor], backend: str
    ) -> list[np.ndarray]:
        """The landmarks of each portrait: given (`--portrait-landmarks`, one file per portrait) or
        detected."""
        given = inputs.get("portrait_landmarks") or []
        given = [given] if isinstance(given, (str, Path)) else list(given)
        if given and len(given) != len(portraits):
            raise InputError("--portrait-landmarks", f"give one file per portrait ({len(portraits)})")
        if given:
            return [read_landmarks_json(Path(p)) for p in given]
        found = []
        for k, portrait in enumerate(portraits):
            where = "--portrait" if len(portraits) == 1 else f"--portrait (number {k + 1})"
            found.append(self._detect(to_rgb(portrait), where, backend))
        return found

    def _driving(self, value: Any, backend: str, stream: FaceStream) -> tuple[np.ndarray, bool]:
        """Driving landmarks and whether they come from a video (relative motion to its first frame)."""
        if isinstance(value, Tensor):
            found = self.detector(backend)(to_rgb(value))
            if found is None:
                if stream.last is None:
                    raise InputError("--driving", "no face found in the first frame")
                stream.frames_without_face += 1
                return stream.last, True
            stream.last = found
            return found, True
        path = Path(value)
        if path.suffix.lower() == ".json":
            return read_landmarks_json(path), False
        from i2i.data.images import read_image

        return self._detect(np.asarray(read_image(path).convert("RGB")), path, backend), False

    def prepare(self, inputs: Mapping[str, Any], state: FaceStream) -> dict[str, Any]:
        raw = inputs["portrait"]
        portraits: list[Tensor] = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        portraits = [p.expand(3, -1, -1) if p.shape[0] == 1 else p for p in portraits]
        size = portraits[0].shape[-2:]
        if any(p.shape[-2:] != size for p in portraits):
            raise InputError("--portrait", "all portraits must have the same size")
        h, w = size
        if h != w:
            raise InputError("--portrait", f"portraits must be square (crop to the face); got {w}x{h}")
        backend = str(inputs.get("landmarks") or self.backend)
        points = self.portrait_points(inputs, portraits, backend)
        if inputs.get("driving") is None:
            raise InputError("--driving", "give driving landmarks (JSON), a photo or a video")
        driving, video = self._driving(inputs["driving"], backend, state)
        best = _closest(points, driving)
        if video or inputs.get(VIDEO_FRAME):
            # relative motion: how the face moved and changed since this video's first frame
            if state.reference is None:
                state.reference = driving
            target = retarget(driving, points[best], state.reference)
        else:
            # one driving face: its expression and shape, placed where the portrait's face is
            target = apply(similarity(driving, points[best]), driving)
        return {
            "portrait": portraits[best],
            "portraits": torch.stack(portraits),
            "portrait_points": torch.from_numpy(points[best].astype(np.float32)),
            "driving_points": torch.from_numpy(target.astype(np.float32)),
            "sketch": sketch_tensor(target, h),
        }


def _closest(candidates: list[np.ndarray], driving: np.ndarray) -> int:
    """The portrait whose face, aligned by a similarity transform, is nearest the driving face."""
    errors = []
    for points in candidates:
        aligned = apply(similarity(driving, points), driving)
        errors.append(float(np.linalg.norm(aligned - points, axis=1).mean()))
    return int(np.argmin(errors))
