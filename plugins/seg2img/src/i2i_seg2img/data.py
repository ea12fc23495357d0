"""seg2img training data: label maps paired by name with photos (see docs/data-formats.md).

    DIR/classes.json                 class names, colours, ignore index
    DIR/{train,test}/labels/NAME.png index (grey or palette) or colour-coded label maps
    DIR/{train,test}/images/NAME.*   the photos
    DIR/{train,test}/instances/NAME.png  optional instance ids (0 = none), for the edge channel

Every sample also carries the class colours, so the conditioner can store them in the model file
and a colour-coded map works at inference without the data directory.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from i2i.data.dataset import I2IDataset
from i2i.data.folders import data_directory
from i2i.data.images import INDEX_MODES, image_to_tensor, label_to_tensor, list_images, read_image
from i2i.data.transforms import PairedTransform
from i2i.errors import ConfigError, InputError
from i2i_seg2img.labels import read_classes, to_ids

SPLIT_FALLBACKS = {"test": ("test", "val"), "val": ("val", "test"), "train": ("train",)}


def split_folder(root: Path, split: str) -> Path:
    for name in SPLIT_FALLBACKS.get(split, (split,)):
        if (root / name / "labels").is_dir():
            return root / name
    raise InputError(root, f"no {split}/labels folder (expected {split}/labels and {split}/images)")


class SegDataset(I2IDataset):
    """Samples {"labels": (H,W) int64, "target": (3,H,W) in [-1,1], "instances": (H,W) int64,
    "palette": (K,3) int64}."""

    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        super().__init__(data_directory(root), data, split, train)
        self.classes = read_classes(self.root / "classes.json")
        self.num_classes = int(data["num_classes"])
        if len(self.classes) != self.num_classes:
            raise ConfigError(
                f"{self.root / 'classes.json'} lists {len(self.classes)} classes but data.num_classes is "
                f"{self.num_classes}: pass --set data.num_classes={len(self.classes)}"
            )
        folder = split_folder(self.root, split)
        photos = {p.stem: p for p in list_images(folder / "images")} if (folder / "images").is_dir() else {}
        self.items: list[tuple[Path, Path, Path | None]] = []
        for labels in list_images(folder / "labels"):
            photo = photos.get(labels.stem)
            if photo is None:
                raise InputError(labels, f"no photo with this name in {folder / 'images'}")
            instances = folder / "instances" / f"{labels.stem}.png"
            self.items.append((labels, photo, instances if instances.is_file() else None))
        if not self.items:
            raise InputError(folder / "labels", "no label maps")
        self.palette = torch.tensor(self.classes.colors, dtype=torch.int64)
        self.transform = PairedTransform(
            int(data["load_size"]),
            int(data["crop_size"]),
            bool(data["flip"]) and train,
            str(data["resize_mode"]),
        )

    def __len__(self) -> int:
        return len(self.items)

    def previous_index(self, index: int) -> int | None:
        """Temporal mode: the frame before this one (frames named `<clip>_<number>`, in order)."""
        from i2i.temporal import previous_frame

        return previous_frame([labels for labels, _, _ in self.items], index)

    def load(self, index: int, rng: random.Random | None) -> dict[str, torch.Tensor]:
        labels_path, photo_path, instances_path = self.items[index]
        images = {"labels": read_image(labels_path, "raw"), "target": read_image(photo_path)}
        if instances_path is not None:
            images["instances"] = read_image(instances_path, "raw")
        if images["labels"].size != images["target"].size:
            raise InputError(
                labels_path, f"label map is {images['labels'].size}, its photo {images['target'].size}"
            )
        out = self.transform(images, rng, nearest={"labels", "instances"} & set(images))
        ids = to_ids(
            label_to_tensor(out["labels"]),
            self.num_classes,
            self.palette,
            self.classes.ignore_index,
            labels_path,
            classes=self.classes,  # the data set's index/don't-care convention (label presets)
        )
        instances = (
            label_to_tensor(_index_image(out["instances"]))[0]
            if "instances" in out
            else torch.zeros_like(ids)
        )
        return {
            "labels": ids,
            "target": image_to_tensor(out["target"]),
            "instances": instances,
            "palette": self.palette,
        }


def _index_image(img: Image.Image) -> Image.Image:
    return img if img.mode in INDEX_MODES else img.convert("L")
