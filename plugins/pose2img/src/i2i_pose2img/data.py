"""pose2img training data in the DeepFashion In-shop pose-transfer layout (PATN, GFLA, ...):

    DIR/train/NAME.jpg, DIR/test/NAME.jpg        person images
    DIR/*annotation-{split}.csv                  name:keypoints_y:keypoints_x (COCO-18, -1 missing)
    DIR/*pairs-{split}.csv                       from,to: source and target image of one person
    DIR/{split}.lst                              optional list of image names

(`fasion-resize-annotation-train.csv` and `fasion-resize-pairs-train.csv`, the file names the
original release uses, match the patterns.) A sample is one pair: the source image and pose, the
target pose, and the target image to reproduce. Poses are rendered on the fly at the working size,
and a flip mirrors both images and both poses (left and right keypoints swapped).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from i2i.data.dataset import I2IDataset
from i2i.data.folders import data_directory
from i2i.data.images import image_to_tensor, read_image
from i2i.data.text import read_text
from i2i.errors import InputError
from i2i_pose2img.keypoints import flip, pose_maps, read_deepfashion_csv, scale_points


def _one(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    if not found:
        raise InputError(root, f"no {pattern} file (DeepFashion pose-transfer layout)")
    if len(found) > 1:
        raise InputError(root, f"several {pattern} files: {', '.join(p.name for p in found)}")
    return found[0]


MAX_PAIRS_BYTES = 64 << 20  # a pairs file of about a million pairs


def _plain_name(name: str) -> bool:
    """A file name inside the split folder: not empty, no NUL, not absolute, no `..` step."""
    parts = Path(name).parts
    return bool(name) and "\0" not in name and not Path(name).is_absolute() and ".." not in parts


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """`from,to` rows (a header is skipped) -> [(source name, target name)]."""
    pairs = []
    rows = enumerate(csv.reader(read_text(path, MAX_PAIRS_BYTES).splitlines()), start=1)
    number = 0
    try:
        for number, row in rows:
            if not row or (number == 1 and [c.strip() for c in row] == ["from", "to"]):
                continue
            if len(row) != 2:
                raise InputError(path, f"line {number}: expected from,to")
            pair = (row[0].strip(), row[1].strip())
            if not all(_plain_name(name) for name in pair):
                raise InputError(path, f"line {number}: names must be file names in the image folder")
            pairs.append(pair)
    except csv.Error as exc:  # a field over csv's size limit, a bad quote in strict dialects...
        raise InputError(path, f"line {number + 1}: not a CSV row ({exc})") from None
    if not pairs:
        raise InputError(path, "no pairs")
    return pairs


class PoseDataset(I2IDataset):
    """Samples {"source", "target": (3,H,W) in [-1,1]; "source_pose", "target_pose": (35,H,W) float}."""

    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        super().__init__(root, data, split, train)
        data_directory(self.root)
        self.folder = self.root / split
        if not self.folder.is_dir():
            raise InputError(self.root, f"has no {split}/ image folder")
        annotations = _one(self.root, f"*annotation-{split}.csv")
        self.keypoints = read_deepfashion_csv(annotations)
        self.pairs = read_pairs(_one(self.root, f"*pairs-{split}.csv"))
        for a, b in self.pairs:
            for name in (a, b):
                if name not in self.keypoints:
                    raise InputError(annotations, f"no keypoints for {name} (named in the pairs file)")
        self.size = (int(data["width"]), int(data["height"]))
        self.sigma = float(data["sigma"])
        self.flip = bool(data["flip"]) and train

    def __len__(self) -> int:
        return len(self.pairs)

    def _person(self, name: str, mirror: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        path = self.folder / name
        image = read_image(path)
        points = self.keypoints[name]
        if mirror:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            points = flip(points, image.size[0])
        source_size = image.size
        if image.size != self.size:
            image = image.resize(self.size, Image.Resampling.BICUBIC)
        maps = pose_maps(np.asarray(points), source_size, self.size, self.sigma)
        return image_to_tensor(image), maps, torch.from_numpy(scale_points(points, source_size, self.size))

    def load(self, index: int, rng: random.Random | None) -> dict[str, torch.Tensor]:
        source, target = self.pairs[index]
        mirror = self.flip and rng is not None and rng.random() < 0.5
        src_image, src_pose, src_points = self._person(source, mirror)
        tgt_image, tgt_pose, tgt_points = self._person(target, mirror)
        return {
            "source": src_image,
            "source_pose": src_pose,
            "source_points": src_points,
            "target": tgt_image,
            "target_pose": tgt_pose,
            "target_points": tgt_points,
        }
