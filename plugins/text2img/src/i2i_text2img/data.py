"""text2img training data: images with captions, in the layouts people already have.

- cub: CUB-200-2011 as AttnGAN and DF-GAN prepare it (the birds benchmark of text-to-image GANs):
  `CUB_200_2011/images.txt`, `CUB_200_2011/bounding_boxes.txt`, `CUB_200_2011/images/<class>/<name>.jpg`,
  `text/<class>/<name>.txt` (one caption a line) and `train|test/filenames.pickle` (a pickled list of
  "<class>/<name>"). Each image is cropped to `data.bbox_crop` (1.5) times its bird box around the
  box's centre, clamped to the image, as AttnGAN does. The pickles are read by
  `i2i.data.text.read_name_list`, which refuses every global (a hostile pickle cannot run code);
  anything but a list of strings is an error. Without the pickles a stable tenth of the images (by a hash of the name) is held out.
- jsonl: a Hugging Face imagefolder, `DIR/[split/]metadata.jsonl`, one JSON object a line:
  {"file_name": "a.png", "text": "a caption" or ["caption", ...]} ("caption"/"captions" are read
  too, and an optional "bbox": [x, y, w, h] crops like CUB).

Training samples (with an rng) take one random caption of the image, a random horizontal flip
(`data.flip`) and a random S x S crop of the image resized to S*76/64 (`data.jitter`, as AttnGAN);
without an rng a sample is caption 0, the centre crop, unflipped. Every random choice comes from the
rng of the sample key, so the same key gives the same sample.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from i2i.data.dataset import I2IDataset
from i2i.data.folders import data_directory, select_split
from i2i.data.images import image_to_tensor, read_image
from i2i.data.jsonfile import is_number
from i2i.data.text import json_rows, read_name_list, read_text
from i2i.data.transforms import PairedTransform
from i2i.errors import ConfigError, InputError

LAYOUTS = ("auto", "cub", "jsonl")
CUB_DIR = "CUB_200_2011"
METADATA = "metadata.jsonl"
ATTRIBUTES = "attributes.jsonl"
JITTER = 76 / 64  # AttnGAN: resize to 76 then random-crop 64
SPLIT_FOLDERS = {
    "train": ("train",),
    "test": ("test", "validation", "val", "valid"),
    "val": ("validation", "val", "valid", "test"),
    "validation": ("validation", "val", "valid", "test"),
}
TEXT_KEYS = ("text", "caption", "captions")
MAX_CAPTION_BYTES = 1 << 20  # one image's caption file (CUB's are about 1 KB)
MAX_ID_DIGITS = 18  # an image id of CUB's text files: fits an int64, never a 5000-digit number
MAX_BOX = 1e7  # pixels: a box coordinate or side beyond any image


# ---- helpers -------------------------------------------------------------------------------------
def _read_captions(path: Path) -> list[str]:
    captions = [" ".join(line.split()) for line in read_text(path, MAX_CAPTION_BYTES).splitlines()]
    captions = [c for c in captions if c]
    if not captions:
        raise InputError(path, "has no captions")
    return captions


def _numbered_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a whitespace-separated CUB text file, blank lines skipped."""
    return [(i, line.split()) for i, line in enumerate(read_text(path).splitlines(), 1) if line.strip()]


def _cub_id(field: str) -> int | None:
    """An image id of images.txt / bounding_boxes.txt: ASCII digits only (`str.isdigit` also
    takes '²', which `int` refuses), at most MAX_ID_DIGITS of them; None for anything else."""
    if not (field.isascii() and field.isdigit() and len(field) <= MAX_ID_DIGITS):
        return None
    return int(field)


def _box_value(v: Any) -> float:
    """One coordinate: a number from JSON or a decimal string from a text file (not a bool)."""
    if isinstance(v, str) and len(v) <= 40:
        return float(v)
    if is_number(v):
        return float(v)
    raise ValueError(v)


def _box(value: Any, where: Path, line: int) -> tuple[float, float, float, float]:
    if not isinstance(value, (list, tuple)):
        raise InputError(where, f"line {line}: a box is four numbers x y w h")
    try:
        x, y, w, h = (_box_value(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(where, f"line {line}: a box is four numbers x y w h") from None
    if not all(abs(v) <= MAX_BOX for v in (x, y, w, h)):  # also refuses nan and inf
        raise InputError(where, f"line {line}: the box {x} {y} {w} {h} is not inside any image")
    if not (w > 0 and h > 0):
        raise InputError(where, f"line {line}: the box has no area ({w} x {h})")
    return x, y, w, h


def read_image_list(path: Path) -> dict[int, str]:
    """CUB's images.txt: `<id> <class>/<name>.jpg` a line -> {id: relative path}."""
    paths: dict[int, str] = {}
    for line, fields in _numbered_lines(path):
        number = _cub_id(fields[0]) if len(fields) == 2 else None
        if number is None:
            raise InputError(path, f"line {line}: expected '<id> <class>/<name>.jpg'")
        paths[number] = fields[1]
    return paths


def read_boxes(path: Path) -> dict[int, tuple[float, float, float, float]]:
    """CUB's bounding_boxes.txt: `<id> x y w h` a line -> {id: box}; a box must have an area
    and lie within 1e7 pixels (no nan, no inf: the crop turns them into integers)."""
    boxes: dict[int, tuple[float, float, float, float]] = {}
    for line, fields in _numbered_lines(path):
        number = _cub_id(fields[0]) if len(fields) == 5 else None
        if number is None:
            raise InputError(path, f"line {line}: expected '<id> x y w h'")
        boxes[number] = _box(fields[1:], path, line)
    return boxes


def bbox_crop(image: Image.Image, box: tuple[float, float, float, float], factor: float) -> Image.Image:
    """AttnGAN's crop: a square of `factor` times the box's longer side around its centre, clamped."""
    x, y, w, h = box
    r = int(max(w, h) * factor / 2)
    cx, cy = int((2 * x + w) / 2), int((2 * y + h) / 2)
    width, height = image.size
    x1, y1 = max(0, cx - r), max(0, cy - r)
    x2, y2 = min(width, cx + r), min(height, cy + r)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return image
    return image.crop((x1, y1, x2, y2))


# ---- the dataset ---------------------------------------------------------------------------------
class CaptionDataset(I2IDataset):
    """Samples {"target": (3,S,S) in [-1, 1], "caption": str}."""

    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        super().__init__(data_directory(root), data, split, train)
        layout = str(data["layout"])
        if layout not in LAYOUTS:
            raise ConfigError(f"data.layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        self.size = int(data["image_size"])
        if self.size < 1:
            raise ConfigError(f"data.image_size must be positive, not {self.size}")
        self.crop_factor = float(data.get("bbox_crop") or 0.0)
        load = round(self.size * JITTER) if data.get("jitter", True) else self.size
        self.transform = PairedTransform(load, self.size, bool(data.get("flip", True)), "short_side")
        self.layout = self._detect(layout)
        # items: (key, image path, captions, box or None); key is the name attributes.jsonl uses
        self.items: list[tuple[str, Path, list[str], tuple[float, float, float, float] | None]]
        self.items = self._list_cub() if self.layout == "cub" else self._list_jsonl()
        if not self.items:
            raise InputError(self.root, f"no images for split {split!r} ({self.layout} layout)")

    def _detect(self, layout: str) -> str:
        if layout != "auto":
            return layout
        if (self.root / CUB_DIR).is_dir():
            return "cub"
        if (self.root / METADATA).is_file() or any(
            (self.root / d / METADATA).is_file() for names in SPLIT_FOLDERS.values() for d in names
        ):
            return "jsonl"
        raise InputError(
            self.root, f"found neither {CUB_DIR}/ (CUB layout) nor {METADATA} (Hugging Face imagefolder)"
        )

    # ---- CUB -------------------------------------------------------------------------------------
    def _list_cub(self):
        cub = self.root / CUB_DIR
        images_txt = cub / "images.txt"
        paths = read_image_list(images_txt)
        boxes_txt = cub / "bounding_boxes.txt"
        boxes: dict[str, tuple[float, float, float, float]] = {}
        if boxes_txt.exists():
            for number, box in read_boxes(boxes_txt).items():
                if number in paths:
                    boxes[_stem(paths[number])] = box
        by_name = {_stem(p): p for _, p in sorted(paths.items())}
        names = self._cub_split(list(by_name))
        items = []
        for name in names:
            if name not in by_name:
                raise InputError(images_txt, f"does not list {name!r}, named in the split file")
            image = cub / "images" / by_name[name]
            if not image.is_file():
                raise InputError(image, "no such file")
            captions = _read_captions(self.root / "text" / f"{name}.txt")
            items.append((name, image, captions, boxes.get(name)))
        return items

    def _cub_split(self, names: list[str]) -> list[str]:
        wanted = "train" if self.split == "train" else "test"
        other = "test" if wanted == "train" else "train"
        wanted_file = self.root / wanted / "filenames.pickle"
        other_file = self.root / other / "filenames.pickle"
        if wanted_file.exists():
            return read_name_list(wanted_file)
        if other_file.exists():
            excluded = set(read_name_list(other_file))
            return [n for n in names if n not in excluded]
        return select_split(names, self.split != "train", str)

    # ---- Hugging Face imagefolder ----------------------------------------------------------------
    def _list_jsonl(self):
        names = SPLIT_FOLDERS.get(self.split, (self.split,))
        folder = next((self.root / n for n in names if (self.root / n / METADATA).is_file()), None)
        held_out = folder is None
        if folder is None:
            if not (self.root / METADATA).is_file():
                raise InputError(self.root, f"has no {METADATA} for split {self.split!r}")
            folder = self.root
        meta = folder / METADATA
        items = []
        for line_no, row in json_rows(meta, "file_name"):
            text = next((row[k] for k in TEXT_KEYS if k in row), None)
            captions = [text] if isinstance(text, str) else text
            if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
                raise InputError(meta, f"line {line_no}: 'text' must be a string or a list of strings")
            captions = [" ".join(c.split()) for c in captions if c.strip()]
            if not captions:
                raise InputError(meta, f"line {line_no}: no caption")
            relative = Path(row["file_name"])
            if relative.is_absolute() or ".." in relative.parts:
                raise InputError(meta, f"line {line_no}: {row['file_name']!r} is not a path inside {folder}")
            image = folder / relative
            if not image.is_file():
                raise InputError(image, "no such file")
            box = _box(row["bbox"], meta, line_no) if row.get("bbox") is not None else None
            items.append((_stem(row["file_name"]), image, captions, box))
        return select_split(items, self.split != "train", lambda item: item[0]) if held_out else items

    # ---- access ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def captions(self, index: int) -> list[str]:
        return list(self.items[index][2])

    def attributes(self) -> list[dict[str, Any]] | None:
        """The ground-truth attributes of each item (from `attributes.jsonl`, written by the demo),
        in item order; None when the data set has no such file."""
        path = self.root / ATTRIBUTES
        if not path.is_file():
            return None
        table: dict[str, dict[str, Any]] = {}
        for _, row in json_rows(path, "file"):
            table[row["file"]] = row
        out = []
        for key, *_ in self.items:
            if key not in table:
                raise InputError(path, f"has no line for {key!r}")
            out.append(table[key])
        return out

    def load(self, index: int, rng: random.Random | None) -> dict[str, Any]:
        _, path, captions, box = self.items[index]
        caption = captions[rng.randrange(len(captions))] if rng is not None else captions[0]
        image = read_image(path)
        if box is not None and self.crop_factor > 0:
            image = bbox_crop(image, box, self.crop_factor)
        image = self.transform({"target": image}, rng)["target"]  # short side to load, crop, flip
        return {"target": image_to_tensor(image), "caption": caption}


def _stem(path: str) -> str:
    """'001.x/y.jpg' -> '001.x/y' (the name the split pickles and text/ use)."""
    p = Path(path)
    return str(p.with_suffix("")) if p.suffix else str(p)
