"""img2img training data in the layouts people already have (see docs/data-formats.md):

- aligned: the original pix2pix layout, A and B side by side in one file per sample;
- pairs: `A/` and `B/` folders matched by file stem;
- photos: plain photos, the input derived from each (gray for colorize, Canny edges, x`scale` down).

Files are listed once and decoded lazily per sample; every random choice comes from the rng of the
sample key, so a resumed run sees exactly the samples it would have seen.
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
from i2i.data.folders import PhotoFolder, split_folder
from i2i.data.images import image_to_tensor
from i2i.data.transforms import PairedTransform
from i2i.errors import ConfigError, InputError

LAYOUTS = ("auto", "aligned", "pairs", "photos")
TASKS = ("paired", "colorize", "edges", "sr")
PAIR_FOLDERS = {"a": "A", "b": "B"}  # the pairs layout: A/ and B/ matched by file name


def _choice(data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = str(data[key])
    if value not in allowed:
        raise ConfigError(f"data.{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


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
        # Listing, split folders, the held-out tenth and A/B matching are the core's PhotoFolder.
        folders = PAIR_FOLDERS if self.layout == "pairs" else None
        self.photos = PhotoFolder(self.root, split, key="a", folders=folders)
        self.items: list[tuple[Path, Path | None]] = [(s["a"], s.get("b")) for s in self.photos.samples]  # type: ignore[misc]

    # ---- listing -----------------------------------------------------------------------------
    def _detect(self, layout: str) -> str:
        if layout != "auto":
            return layout
        if self.task != "paired":
            return "photos"
        probe, _ = split_folder(self.root, self.split)
        return "pairs" if (probe / "A").is_dir() else "aligned"

    def __len__(self) -> int:
        return len(self.items)

    def previous_index(self, index: int) -> int | None:
        """Temporal mode: the frame before this one (frames named `<clip>_<number>`, in order)."""
        from i2i.temporal import previous_frame

        return previous_frame([first for first, _ in self.items], index)

    # ---- one sample --------------------------------------------------------------------------
    def _pair(self, index: int) -> tuple[Image.Image, Image.Image]:
        """(input, target) at full resolution, before geometry."""
        images = self.photos.read(index)
        if self.layout == "pairs":
            a, b = images["a"], images["b"]
        elif self.layout == "aligned":
            ab = images["a"]
            first = self.items[index][0]
            w, h = ab.size
            if w < 2:
                raise InputError(first, f"is {w}x{h}: an aligned pair must hold A and B side by side")
            a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, 2 * (w // 2), h))
        else:
            photo = images["a"]
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
