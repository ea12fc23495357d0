"""img2img training data in the layouts people already have (see docs/data-formats.md):

- aligned: the original pix2pix layout, A and B side by side in one file per sample;
- pairs: `A/` and `B/` folders matched by file stem;
- photos: plain photos, the input derived from each (gray for colorize, Canny edges, x`scale` down).

Files are listed once and decoded lazily per sample; every random choice comes from the rng of the
sample key, so a resumed run sees exactly the samples it would have seen.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from i2i.data.dataset import I2IDataset
from i2i.data.images import image_to_tensor, list_images, read_image
from i2i.data.transforms import PairedTransform
from i2i.errors import ConfigError, InputError

LAYOUTS = ("auto", "aligned", "pairs", "photos")
TASKS = ("paired", "colorize", "edges", "sr")
SPLIT_FALLBACKS = {"test": ("test", "val"), "val": ("val", "test"), "train": ("train",)}
HELD_OUT_FRACTION = 10  # without split folders, one image in ten (by name hash) is held out


def _choice(data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = str(data[key])
    if value not in allowed:
        raise ConfigError(f"data.{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _held_out(path: Path) -> bool:
    """Stable per file name, so adding photos never moves an existing one between train and test."""
    return zlib.crc32(path.stem.encode()) % HELD_OUT_FRACTION == 0


def split_dir(root: Path, split: str) -> tuple[Path, bool | None]:
    """(folder holding the split, which side of the name-hash split to keep or None for all)."""
    for name in SPLIT_FALLBACKS.get(split, (split,)):
        if (root / name).is_dir():
            return root / name, None
    if any((root / s).is_dir() for s in ("train", "val", "test")):
        raise InputError(root, f"has no {split!r} split folder")
    return root, split != "train"


def _select(files: list[Path], held_out: bool | None) -> list[Path]:
    """Without split folders: the held-out tenth for test/val, the rest for training."""
    if held_out is None or len(files) < 2:
        return files
    test = [p for p in files if _held_out(p)] or files[-1:]  # tiny folders still hold one out
    return test if held_out else [p for p in files if p not in test]


def canny_edges(image: Image.Image, sigma: float) -> Image.Image:
    """Black edges on white (the edges2shoes convention) from skimage's Canny on the luminance."""
    from skimage.feature import canny

    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    edges = canny(gray, sigma=sigma)
    return Image.fromarray(np.where(edges, 0, 255).astype(np.uint8), "L").convert("RGB")


class Img2ImgDataset(I2IDataset):
    """Samples {"input": (C,h,w), "target": (3,H,W)} in [-1, 1]; h = H / scale for super-resolution."""

    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        super().__init__(root, data, split, train)
        if not self.root.is_dir():
            raise InputError(
                self.root, "no such data directory" if not self.root.exists() else "not a directory"
            )
        self.task = _choice(data, "task", TASKS)
        layout = _choice(data, "layout", LAYOUTS)
        self.layout = self._detect(layout)
        self.scale = int(data["scale"]) if self.task == "sr" else 1
        self.input_channels = int(data["input_channels"])
        self.transform = PairedTransform(
            int(data["load_size"]),
            int(data["crop_size"]),
            flip=bool(data["flip"]),
            resize_mode=str(data["resize_mode"]),
        )
        self.items = self._list()
        if not self.items:
            raise InputError(self.root, f"no images for split {split!r} ({self.layout} layout)")

    # ---- listing -----------------------------------------------------------------------------
    def _detect(self, layout: str) -> str:
        if layout != "auto":
            return layout
        if self.task != "paired":
            return "photos"
        probe, _ = split_dir(self.root, self.split) if self.root.is_dir() else (self.root, None)
        return "pairs" if (probe / "A").is_dir() else "aligned"

    def _list(self) -> list[tuple[Path, Path | None]]:
        folder, held_out = split_dir(self.root, self.split)
        if self.layout != "pairs":
            return [(p, None) for p in _select(list_images(folder), held_out)]
        a_files = {p.stem: p for p in list_images(folder / "A")}
        b_files = {p.stem: p for p in list_images(folder / "B")}
        for stem in sorted(a_files.keys() ^ b_files.keys()):
            lone = a_files.get(stem) or b_files[stem]
            raise InputError(lone, "has no partner with the same name in the other of A/ and B/")
        chosen = _select([a_files[s] for s in sorted(a_files)], held_out)
        return [(a, b_files[a.stem]) for a in chosen]

    def __len__(self) -> int:
        return len(self.items)

    def previous_index(self, index: int) -> int | None:
        """Temporal mode: the frame before this one (frames named `<clip>_<number>`, in order)."""
        from i2i.temporal import previous_frame

        return previous_frame([first for first, _ in self.items], index)

    # ---- one sample --------------------------------------------------------------------------
    def _pair(self, index: int) -> tuple[Image.Image, Image.Image]:
        """(input, target) at full resolution, before geometry."""
        first, second = self.items[index]
        if self.layout == "pairs":
            a, b = read_image(first), read_image(second)
        elif self.layout == "aligned":
            ab = read_image(first)
            w, h = ab.size
            if w < 2:
                raise InputError(first, f"is {w}x{h}: an aligned pair must hold A and B side by side")
            a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, 2 * (w // 2), h))
        else:
            photo = read_image(first)
            return photo, photo
        return (b, a) if str(self.data["direction"]) == "BtoA" else (a, b)

    def _derive(self, source: Image.Image) -> Image.Image:
        if self.task == "colorize":
            return source.convert("L")
        if self.task == "edges":
            return canny_edges(source, float(self.data["edge_sigma"]))
        if self.task == "sr":
            w, h = source.size
            return source.resize((w // self.scale, h // self.scale), Image.Resampling.BICUBIC)
        return source

    def load(self, index: int, rng: random.Random | None) -> dict[str, torch.Tensor]:
        a, b = self._pair(index)
        if self.task == "sr":
            # Crop the target first, then downsample: the input is exactly the target's x`scale` image.
            target = self.transform({"target": b}, rng)["target"]
            w, h = target.size
            target = target.crop((0, 0, w - w % self.scale, h - h % self.scale))
            source = self._derive(target)
        else:
            if self.layout == "photos":
                target = self.transform({"target": b}, rng)["target"]
                source = self._derive(target)
            else:
                out = self.transform({"input": a, "target": b}, rng)
                source, target = self._derive(out["input"]), out["target"]
        inp = image_to_tensor(source)
        if inp.shape[0] != self.input_channels:
            inp = image_to_tensor(source.convert("L" if self.input_channels == 1 else "RGB"))
        return {"input": inp, "target": image_to_tensor(target)}
