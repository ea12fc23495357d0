"""Class lists and label maps: index maps, palette maps and colour-coded maps -> class ids.

A class list (`classes.json`: names, colours, ignore index) is what makes colour-coded maps (CMP
facades, Cityscapes colour images) usable: each colour is matched to its class. Index maps (grey
or palette PNGs whose value is the class) need only the class count. Every problem names the file
and the offending value, because a wrong id deep inside a data set otherwise surfaces as a CUDA
assert or a silently wrong one-hot map hours into training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from i2i.errors import InputError

IGNORE_INDEX = 255  # "don't care": no class, no loss, an all-zero one-hot column
COLOUR_TOLERANCE = (
    40.0  # RGB distance within which a colour counts as a class colour (video codecs blur them)
)


@dataclass(frozen=True)
class ClassList:
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    ignore_index: int = IGNORE_INDEX

    def __len__(self) -> int:
        return len(self.names)


def read_classes(path: Path) -> ClassList:
    """`{"classes": [{"id": 0, "name": "sky", "color": [r, g, b]}, ...], "ignore_index": 255}`."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "no class list (classes.json) in the data directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a readable JSON class list ({str(exc).splitlines()[0]})") from None
    entries = raw.get("classes") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError(path, 'expected {"classes": [{"id", "name", "color"}, ...]}')
    names, colors = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("id", i) != i:
            raise InputError(path, f"class {i}: ids must be 0, 1, 2, ... in order")
        color = entry.get("color")
        if not (
            isinstance(color, list)
            and len(color) == 3
            and all(isinstance(c, int) and 0 <= c < 256 for c in color)
        ):
            raise InputError(path, f"class {i}: color must be [r, g, b] with 0-255 integers, not {color!r}")
        names.append(str(entry.get("name", f"class{i}")))
        colors.append(tuple(color))
    ignore = raw.get("ignore_index", IGNORE_INDEX)
    if not isinstance(ignore, int) or 0 <= ignore < len(names):
        raise InputError(path, f"ignore_index must be an integer outside 0..{len(names) - 1}, not {ignore!r}")
    return ClassList(tuple(names), tuple(colors), ignore)  # type: ignore[arg-type]


def to_ids(
    raw: Tensor,
    num_classes: int,
    palette: Tensor | None,
    ignore_index: int = IGNORE_INDEX,
    where: str | Path = "labels",
    lossy: bool = False,
) -> Tensor:
    """(1,H,W) ids or (3,H,W) colours (int64, as `i2i.data.images.label_to_tensor` gives) -> (H,W) ids.

    Ids must be < num_classes or the ignore index. Colours are matched to the nearest class colour
    within COLOUR_TOLERANCE; anything further is an error naming the colour and where it is, unless
    `lossy` (video frames: codecs blend colours at class borders), where the nearest class wins.
    """
    if raw.dim() != 3 or raw.shape[0] not in (1, 3):
        raise InputError(where, f"a label map must have 1 or 3 channels, not shape {tuple(raw.shape)}")
    if raw.shape[0] == 1:
        ids = raw[0].long()
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
    dist = torch.cdist(colours, palette.float())
    best, cls = dist.min(dim=1)
    far = best > COLOUR_TOLERANCE
    if not lossy and bool(far.any()):
        colour = tuple(int(c) for c in colours[far][0])
        y, x = divmod(int((inverse == int(far.nonzero()[0])).nonzero()[0]), raw.shape[2])
        raise InputError(where, f"colour {colour} at (x={x}, y={y}) is not the colour of any class")
    return cls[inverse].reshape(raw.shape[1:])


def colorize(ids: Tensor, palette: Tensor) -> Tensor:
    """(B,H,W) ids -> (B,3,H,W) in [-1, 1] in the class colours; ignored pixels black."""
    table = torch.cat([palette.clamp(min=0).float(), palette.new_zeros(1, 3).float()])
    index = torch.where(ids < palette.shape[0], ids, torch.full_like(ids, palette.shape[0]))
    return (table[index] / 127.5 - 1).permute(0, 3, 1, 2)
