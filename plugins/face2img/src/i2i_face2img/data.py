"""face2img training data in the video-clip layout face reenactment uses (VoxCeleb style):

    DIR/{train,test}/<clip>/0000.png ...            frames of one clip (PNG or JPG), or
    DIR/{train,test}/<clip>.mp4                     the clip as a video
    <clip>/landmarks.json | <clip>.landmarks.json   68-point landmarks per frame (cache)

A clip shows one person; a sample is two of its frames: the source (the "portrait") and the
driving frame, whose landmarks say where the face should move and whose pixels are the target
(self-reenactment, as first-order-model and few-shot talking-head models train). At test time the
driving landmarks come from someone else and are retargeted first.

Landmarks are extracted once per clip (dlib or face-alignment) and cached beside the clip; frames
where no face is found are kept out of sampling. The demo writer stores its exact landmarks in
the same cache format.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from i2i.data.dataset import I2IDataset
from i2i.data.images import IMAGE_EXTENSIONS, path_key, read_image
from i2i.errors import InputError
from i2i_face2img.landmarks import flip, read_landmark_frames, render_sketch, write_landmark_frames

CACHE = "landmarks.json"
MAX_CLIP_BYTES = 1 << 30
"""A video clip's frames are kept decoded (uint8) for random access; past 1 GiB (5,400 frames of
256 x 256, 450 of 1080p) the clip is refused rather than filling the memory of every worker:
such a clip is better given as a folder of frames, read one frame at a time."""


def _square(
    image: Image.Image, points: np.ndarray | None, size: int
) -> tuple[Image.Image, np.ndarray | None]:
    """Centre-crop to a square and resize to `size`, moving the landmarks along."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    if (w, h) != (side, side):
        image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    if points is not None:
        scale = size / side
        points = ((points - np.array([left, top], np.float32) + 0.5) * scale - 0.5).astype(np.float32)
    return image, points


def sketch_tensor(points: np.ndarray, size: int) -> torch.Tensor:
    """The landmark sketch as a condition map in [-1, 1]."""
    return torch.from_numpy(render_sketch(points, (size, size))) * 2 - 1


def image_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), np.float32)).permute(2, 0, 1) / 127.5 - 1


def _video_frames(path: Path, max_bytes: int = MAX_CLIP_BYTES) -> list[np.ndarray]:
    """A clip's frames as uint8 (H,W,3) arrays, decoded a chunk at a time (never as float) and
    refused, before decoding where the container gives a frame count, past `max_bytes`."""
    from i2i.data.video import iter_video_arrays, probe_video

    info = probe_video(path)
    frame_bytes = info.width * info.height * 3
    too_long = f"is too long to keep decoded (over {max_bytes >> 20} MiB); give it as a folder of frames"
    if info.frames is not None and info.frames * frame_bytes > max_bytes:
        raise InputError(path, f"{info.frames} frames of {info.width}x{info.height} {too_long}")
    frames: list[np.ndarray] = []
    for chunk in iter_video_arrays(path, chunk_size=16):
        frames.extend(chunk)  # views of the chunk: no copy
        if len(frames) * frame_bytes > max_bytes:
            raise InputError(path, f"{too_long}")
    return frames


class Clip:
    """One clip's frames (paths or decoded video frames) and their cached landmarks."""

    def __init__(self, path: Path, backend: str) -> None:
        self.path = path
        if path.is_dir():
            found = (p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            self.frames: list[Any] = sorted(found, key=path_key)  # frame 99999 before 100000
            self.names = [p.name for p in self.frames]
            self.cache = path / CACHE
        else:
            self.frames = _video_frames(path)
            self.names = [f"{i:05d}" for i in range(len(self.frames))]
            self.cache = path.with_suffix(".landmarks.json")
        if not self.frames:
            raise InputError(path, "clip has no frames")
        self.points = self._landmarks(backend)
        self.valid = [i for i, name in enumerate(self.names) if self.points.get(name) is not None]

    def image(self, i: int) -> Image.Image:
        frame = self.frames[i]
        return read_image(frame) if isinstance(frame, Path) else Image.fromarray(frame)

    def _landmarks(self, backend: str) -> dict[str, np.ndarray | None]:
        if self.cache.exists():
            cached = read_landmark_frames(self.cache)
            if set(self.names) <= set(cached):
                return cached
        from i2i_face2img.detect import landmark_backend

        detector = landmark_backend(backend)
        found = {n: detector(np.asarray(self.image(i).convert("RGB"))) for i, n in enumerate(self.names)}
        size = self.image(0).size
        write_landmark_frames(self.cache, found, size, source=detector.name)
        return found


class FaceClips(I2IDataset):
    """Samples {"portrait", "target": (3,S,S) in [-1,1]; "portrait_points", "driving_points":
    (68,2) pixels; "sketch": (3,S,S) driving sketch in [-1,1]}."""

    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        super().__init__(root, data, split, train)
        folder = self.root / split
        if not folder.is_dir():
            raise InputError(self.root, f"has no {split}/ folder of clips")
        paths = sorted(
            (p for p in folder.iterdir() if p.is_dir() or p.suffix.lower() in (".mp4", ".avi", ".mov")),
            key=path_key,
        )
        backend = str(data.get("landmarks", "auto"))
        self.clips = [c for c in (Clip(p, backend) for p in paths) if len(c.valid) >= 2]
        if not self.clips:
            raise InputError(folder, "no clip with at least two frames where a face was found")
        self.index = [(c, i) for c, clip in enumerate(self.clips) for i in clip.valid]
        self.size = int(data["size"])
        self.flip = bool(data.get("flip", True)) and train

    def __len__(self) -> int:
        return len(self.index)

    def _frame(self, clip: Clip, i: int, mirror: bool) -> tuple[torch.Tensor, np.ndarray]:
        image, points = _square(clip.image(i), clip.points[clip.names[i]], self.size)
        assert points is not None
        if mirror:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            points = flip(points, self.size)
        return image_tensor(image), points

    def load(self, index: int, rng: random.Random | None) -> dict[str, torch.Tensor]:
        c, driving = self.index[index]
        clip = self.clips[c]
        if rng is None:
            source = clip.valid[0] if driving != clip.valid[0] else clip.valid[-1]
        else:
            source = rng.choice([i for i in clip.valid if i != driving])
        mirror = self.flip and rng is not None and rng.random() < 0.5
        portrait, portrait_points = self._frame(clip, source, mirror)
        target, driving_points = self._frame(clip, driving, mirror)
        return {
            "portrait": portrait,
            "portrait_points": torch.from_numpy(portrait_points),
            "target": target,
            "driving_points": torch.from_numpy(driving_points),
            "sketch": sketch_tensor(driving_points, self.size),
        }
