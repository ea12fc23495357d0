"""Portrait(s) + driving landmarks -> Condition: the driving sketch and the portrait warped onto the
driving landmarks (maps), the portraits' identity embedding (vector), the portrait (refs).

At inference (`prepare`) the portraits' landmarks come from a JSON file or a detector (dlib or
face-alignment, `--landmarks`), and the driving landmarks from a JSON file, a photo or the frames
of a video; they are retargeted onto the portrait (relative motion) before anything is drawn, so
the driving person's face shape does not leak into the result. With several portraits, the one
whose landmarks are closest to the driving pose is warped, and all of them make the identity.
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
from i2i_face2img.data import sketch_tensor
from i2i_face2img.landmarks import apply, read_landmarks_json, retarget, similarity
from i2i_face2img.nets import IdentityEncoder
from i2i_face2img.warp import warp_to


def to_rgb(image: Tensor) -> np.ndarray:
    """(3,H,W) in [-1, 1] -> (H,W,3) uint8, what a landmark detector reads."""
    return ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


class FaceConditioner(Conditioner):
    def __init__(self, id_dim: int = 128, encoder_ngf: int = 32, landmarks: str = "auto") -> None:
        super().__init__()
        self.identity = IdentityEncoder(id_dim, encoder_ngf)
        self.backend = landmarks
        self._detectors: dict[str, Any] = {}
        self._reference: np.ndarray | None = None  # the first driving frame of a video
        self._last: np.ndarray | None = None
        self.frames_without_face = 0

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        portrait = batch["portrait"]
        warped = warp_to(portrait, batch["portrait_points"], batch["driving_points"])
        portraits = batch.get("portraits", portrait[:, None])
        maps = torch.cat([batch["sketch"].to(portrait.dtype), warped], 1)
        return Condition(maps=maps, vector=self.identity(portraits), refs=portrait)

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        assert cond.maps is not None
        return cond.maps[:, :3]

    # inference

    def _detector(self, backend: str) -> Any:
        if backend not in self._detectors:
            from i2i_face2img.detect import landmark_backend

            self._detectors[backend] = landmark_backend(backend)
        return self._detectors[backend]

    def _detect(self, rgb: np.ndarray, where: str | Path, backend: str) -> np.ndarray | None:
        points = self._detector(backend)(rgb)
        if points is None and where:
            raise InputError(where, "no face found")
        return points

    def _portrait_points(
        self, inputs: Mapping[str, Any], portraits: list[Tensor], backend: str
    ) -> list[np.ndarray]:
        given = inputs.get("portrait_landmarks") or []
        given = [given] if isinstance(given, (str, Path)) else list(given)
        if given and len(given) != len(portraits):
            raise InputError("--portrait-landmarks", f"give one file per portrait ({len(portraits)})")
        if given:
            return [read_landmarks_json(Path(p)) for p in given]
        found = []
        for k, portrait in enumerate(portraits):
            where = "--portrait" if len(portraits) == 1 else f"--portrait (number {k + 1})"
            points = self._detect(to_rgb(portrait), where, backend)
            assert points is not None
            found.append(points)
        return found

    def _driving(self, value: Any, backend: str) -> tuple[np.ndarray, bool]:
        """Driving landmarks and whether they come from a video (relative motion to its first frame)."""
        if isinstance(value, Tensor):
            found = self._detector(backend)(to_rgb(value))
            if found is None:
                if self._last is None:
                    raise InputError("--driving", "no face found in the first frame")
                self.frames_without_face += 1
                return self._last, True
            self._last = found
            return found, True
        path = Path(value)
        if path.suffix.lower() == ".json":
            return read_landmarks_json(path), False
        from i2i.data.images import read_image

        found = self._detect(np.asarray(read_image(path).convert("RGB")), path, backend)
        assert found is not None
        return found, False

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
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
        points = self._portrait_points(inputs, portraits, backend)
        if inputs.get("driving") is None:
            raise InputError("--driving", "give driving landmarks (JSON), a photo or a video")
        driving, video = self._driving(inputs["driving"], backend)
        best = _closest(points, driving)
        if video or inputs.get(VIDEO_FRAME):
            # relative motion: how the face moved and changed since the video's first frame
            if self._reference is None:
                self._reference = driving
            target = retarget(driving, points[best], self._reference)
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
