"""Class lists and label maps: index maps, palette maps and colour-coded maps -> class ids.

A class list (`classes.json`: names, colours, ignore index) is what makes colour-coded maps (CMP
facades, Cityscapes colour images) usable: each colour is matched to its class. Index maps (grey
or palette PNGs whose value is the class) need only the class count. Every problem names the file
and the offending value, because a wrong id deep inside a data set otherwise surfaces as a CUDA
assert or a silently wrong one-hot map hours into training.

Published data sets come with their own conventions, shipped as presets (`preset(name)`, or
`{"preset": "cityscapes"}` as a data set's classes.json): the class names and colours, which value
a class has in index maps when that is not its id (ADE20K stores class i as i+1), and which values
and colour mean "don't care" (ADE20K's 0 "other", COCO-Stuff's 255 "unlabeled"). Don't-care pixels
become the ignore index, which a conditioner turns into all-zero one-hot columns or SPADE's extra
don't-care channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from i2i.data.jsonfile import is_int, read_json
from i2i.errors import InputError

IGNORE_INDEX = 255  # "don't care": no class, no loss, an all-zero one-hot column
COLOUR_TOLERANCE = (
    40.0  # RGB distance within which a colour counts as a class colour (video codecs blur them)
)


MAX_CLASSES = 65536  # what a 16-bit index map can hold; published label sets have at most a few thousand
PRESETS = ("cityscapes", "ade20k", "cocostuff")  # i2i_seg2img/classes/<name>.json


@dataclass(frozen=True)
class ClassList:
    """Classes of a label set and how its files store them.

    index_values: the value class i has in index maps (None: i itself).
    dontcare_values: index-map values that mean "don't care" (read as the ignore index).
    dontcare_color: the colour of don't-care pixels in colour-coded maps (None: no such colour).
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    ignore_index: int = IGNORE_INDEX
    index_values: tuple[int, ...] | None = None
    dontcare_values: tuple[int, ...] = ()
    dontcare_color: tuple[int, int, int] | None = None
    preset: str | None = None

    def __len__(self) -> int:
        return len(self.names)

    def index_lookup(self) -> Tensor | None:
        """raw index value -> class id (the ignore index for don't care, -1 for a value no class
        has), or None when index maps hold the ids themselves."""
        if self.index_values is None and not self.dontcare_values:
            return None
        values = self.index_values if self.index_values is not None else tuple(range(len(self)))
        kept = (self.ignore_index,) if 0 <= self.ignore_index < 2**24 else ()
        table = torch.full((max((*values, *self.dontcare_values, *kept)) + 1,), -1, dtype=torch.int64)
        table[list((*self.dontcare_values, *kept))] = self.ignore_index
        table[list(values)] = torch.arange(len(values))
        return table


def preset(name: str) -> ClassList:
    """The class list of a published data set: "cityscapes" (35 label ids), "ade20k" (150 classes,
    0 = other) or "cocostuff" (182 ids, 255 = unlabeled); see i2i_seg2img/classes/*.json."""
    if name not in PRESETS:
        raise ValueError(f"unknown label preset {name!r} (presets: {', '.join(PRESETS)})")
    return _load_preset(name)


@cache
def _load_preset(name: str) -> ClassList:
    path = Path(str(resources.files("i2i_seg2img").joinpath(f"classes/{name}.json")))
    return _parse_classes(path, read_json(path), name)


def read_classes(path: Path) -> ClassList:
    """`{"classes": [{"id": 0, "name": "sky", "color": [r, g, b]}, ...], "ignore_index": 255}`, or
    `{"preset": "cityscapes"}` for a published data set's own convention (see `preset`).

    Optional keys: "index_values" (the value of each class in index maps), "dontcare_values" and
    "dontcare_color" (see ClassList)."""
    if not path.exists():
        raise InputError(path, "no class list (classes.json) in the data directory")
    raw: Any = read_json(path)
    if isinstance(raw, dict) and "preset" in raw:
        name = raw["preset"]
        if name not in PRESETS or set(raw) != {"preset"}:
            raise InputError(path, f'expected {{"preset": NAME}} with NAME one of {", ".join(PRESETS)}')
        return preset(name)
    return _parse_classes(path, raw)


def _is_color(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and all(is_int(c) and 0 <= c < 256 for c in value)


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(is_int(v) and 0 <= v < 2**24 for v in value)


def _parse_classes(path: Path, raw: Any, name: str | None = None) -> ClassList:
    entries = raw.get("classes") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError(path, 'expected {"classes": [{"id", "name", "color"}, ...]}')
    if len(entries) > MAX_CLASSES:
        raise InputError(path, f"lists {len(entries)} classes, more than the limit of {MAX_CLASSES}")
    names, colors = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not is_int(entry.get("id", i)) or entry.get("id", i) != i:
            raise InputError(path, f"class {i}: ids must be 0, 1, 2, ... in order")
        color = entry.get("color")
        if not _is_color(color):
            raise InputError(
                path, f"class {i}: color must be [r, g, b] with 0-255 integers, not {color!r:.40}"
            )
        names.append(str(entry.get("name", f"class{i}")))
        colors.append(tuple(color))
    ignore = raw.get("ignore_index", IGNORE_INDEX)
    if not is_int(ignore) or 0 <= ignore < len(names) or not -(2**31) <= ignore < 2**31:
        raise InputError(
            path,
            f"ignore_index must be a 32-bit integer outside 0..{len(names) - 1}, not {ignore!r:.40}",
        )
    values = raw.get("index_values")
    if values is not None and not (_int_list(values) and len(values) == len(names) == len(set(values))):
        raise InputError(path, f"index_values must list {len(names)} distinct integers, one per class")
    dontcare = raw.get("dontcare_values", [])
    if not _int_list(dontcare) or set(dontcare) & set(values or range(len(names))):
        raise InputError(path, "dontcare_values must be integers that no class has as its index value")
    dontcare_color = raw.get("dontcare_color")
    if dontcare_color is not None and not _is_color(dontcare_color):
        raise InputError(
            path, f"dontcare_color must be [r, g, b] with 0-255 integers, not {dontcare_color!r:.40}"
        )
    return ClassList(
        tuple(names),
        tuple(colors),  # type: ignore[arg-type]
        ignore,
        None if values is None else tuple(values),
        tuple(dontcare),
        None if dontcare_color is None else tuple(dontcare_color),  # type: ignore[arg-type]
        name,
    )


def to_ids(
    raw: Tensor,
    num_classes: int,
    palette: Tensor | None,
    ignore_index: int = IGNORE_INDEX,
    where: str | Path = "labels",
    lossy: bool = False,
    classes: ClassList | None = None,
) -> Tensor:
    """(1,H,W) ids or (3,H,W) colours (int64, as `i2i.data.images.label_to_tensor` gives) -> (H,W) ids.

    Ids must be < num_classes or the ignore index. Colours are matched to the nearest class colour
    within COLOUR_TOLERANCE; anything further is an error naming the colour and where it is, unless
    `lossy` (video frames: codecs blend colours at class borders), where the nearest class wins;
    of classes sharing a colour (Cityscapes' void classes) the first wins. `classes` brings a data
    set's convention: index values that are not ids, don't-care values and colour (see ClassList).
    """
    if raw.dim() != 3 or raw.shape[0] not in (1, 3):
        raise InputError(where, f"a label map must have 1 or 3 channels, not shape {tuple(raw.shape)}")
    if raw.shape[0] == 1:
        ids = raw[0].long()
        table = classes.index_lookup() if classes is not None else None
        if table is not None:
            ids = _look_up(ids, table, where, classes)  # type: ignore[arg-type]
        bad = (ids >= num_classes) & (ids != ignore_index) | (ids < 0)
        if bool(bad.any()):
            y, x = (int(v) for v in bad.nonzero()[0])
            raise InputError(
                where,
                f"class id {int(ids[y, x])} at (x={x}, y={y}) is out of range 0..{num_classes - 1}"
                f" (ignore index {ignore_index})",
            )
        return ids
    if palette is None or bool((palette < 0).any()):
        raise InputError(
            where, "a colour label map needs the class colours, and this model has none: give an index map"
        )
    flat = raw.reshape(3, -1).T.float()  # (HW, 3)
    colours, inverse = flat.unique(dim=0, return_inverse=True)
    table, ids_of_row = palette.float(), torch.arange(palette.shape[0])
    if classes is not None and classes.dontcare_color is not None:
        table = torch.cat([table, torch.tensor([classes.dontcare_color], dtype=torch.float32)])
        ids_of_row = torch.cat([ids_of_row, torch.tensor([ignore_index])])
    best, row = torch.cdist(colours, table).min(dim=1)
    cls = ids_of_row[row]
    far = best > COLOUR_TOLERANCE
    if not lossy and bool(far.any()):
        colour = tuple(int(c) for c in colours[far][0])
        y, x = divmod(int((inverse == int(far.nonzero()[0])).nonzero()[0]), raw.shape[2])
        raise InputError(where, f"colour {colour} at (x={x}, y={y}) is not the colour of any class")
    return cls[inverse].reshape(raw.shape[1:])


def _look_up(ids: Tensor, table: Tensor, where: str | Path, classes: ClassList) -> Tensor:
    """Index-map values -> ids through a data set's table; a value it does not know is an error."""
    inside = (ids >= 0) & (ids < table.shape[0])
    mapped = torch.where(inside, table[ids.clamp(0, table.shape[0] - 1)], torch.full_like(ids, -1))
    bad = mapped < 0
    if bool(bad.any()):
        y, x = (int(v) for v in bad.nonzero()[0])
        label_set = f"{classes.preset} " if classes.preset else ""
        raise InputError(
            where, f"value {int(ids[y, x])} at (x={x}, y={y}) is not a {label_set}class or don't-care value"
        )
    return mapped


def colorize(ids: Tensor, palette: Tensor) -> Tensor:
    """(B,H,W) ids -> (B,3,H,W) in [-1, 1] in the class colours; ignored pixels black."""
    table = torch.cat([palette.clamp(min=0).float(), palette.new_zeros(1, 3).float()])
    index = torch.where(ids < palette.shape[0], ids, torch.full_like(ids, palette.shape[0]))
    return (table[index] / 127.5 - 1).permute(0, 3, 1, 2)
