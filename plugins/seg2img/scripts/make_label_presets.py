"""Write the label-convention presets of seg2img (`i2i_seg2img/classes/*.json`) from their sources.

    python plugins/seg2img/scripts/make_label_presets.py CITYSCAPES_LABELS_PY ADE_OBJECTINFO_TXT \
        ADE_COLOR150_MAT COCOSTUFF_LABELS_TXT

The sources (read as data, never imported or executed):

- Cityscapes: `cityscapesscripts/helpers/labels.py` of github.com/mcordts/cityscapesScripts
  (the `Label(name, id, trainId, category, catId, hasInstances, ignoreInEval, color)` table).
  Ids 0..33 are the `*_labelIds.png` values; SPADE's `label_nc 35` adds id 34, used here for
  "license plate" (id -1 in the table, which no 8-bit map can hold), with its colour.
- ADE20K (SceneParsing, 150 classes): `objectInfo150.txt` (names; the first of each synonym list) and
  `visualizationCode/color150.mat` (colours) of github.com/CSAILVision/sceneparsing. Annotation
  value 0 is "other" (don't care), values 1..150 are the classes, so class i has index value i+1.
- COCO-Stuff (182 ids: 91 thing + 91 stuff classes, 11 thing ids unused): `labels.txt` of
  github.com/nightrome/cocostuff. Its PNGs hold 0..181 (labels.txt id - 1) and 255 = unlabeled.
  COCO-Stuff publishes no colour per class; the colours are those SPADE's visualiser draws
  COCO-Stuff label maps in (the bit-interleaved "VOC" colour map of id + 1), computed here.

Each file is a `classes.json` (see docs/data-formats.md) plus the convention keys `index_values`
(the value of each class in index maps, when not its id), `dontcare_values` (index values that
mean don't care), `dontcare_color` and `source`.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "i2i_seg2img" / "classes"

_LABEL_ROW = re.compile(
    r"Label\(\s*'([^']+)'\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*'[^']*'\s*,\s*\d+\s*,\s*\w+\s*,\s*\w+\s*,"
    r"\s*\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)\s*\)"
)


def cityscapes(labels_py: Path) -> dict:
    rows = [
        (name, int(i), (int(r), int(g), int(b)))
        for name, i, _, r, g, b in _LABEL_ROW.findall(labels_py.read_text(encoding="utf-8"))
    ]
    by_id = {i: (name, color) for name, i, color in rows}
    if sorted(i for i in by_id if i >= 0) != list(range(34)) or -1 not in by_id:
        raise SystemExit(f"{labels_py}: expected ids 0..33 and -1 in the Label table")
    by_id[34] = by_id.pop(-1)  # license plate
    classes = [{"id": i, "name": by_id[i][0], "color": list(by_id[i][1])} for i in range(35)]
    return {
        "source": "cityscapesScripts helpers/labels.py (ids 0-33 = *_labelIds.png values; 34 = license plate, "
        "id -1 there, as SPADE's label_nc 35)",
        "classes": classes,
        "ignore_index": 255,
        "dontcare_values": [],
    }


def ade20k(object_info: Path, color150: Path) -> dict:
    from scipy.io import loadmat

    colors = loadmat(str(color150))["colors"]
    with object_info.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if len(rows) != 150 or colors.shape != (150, 3):
        raise SystemExit("ADE20K: expected 150 names and 150 colours")
    classes = [
        {"id": i, "name": row["Name"].split(",")[0].strip(), "color": [int(c) for c in colors[i]]}
        for i, row in enumerate(rows)
    ]
    return {
        "source": "CSAILVision/sceneparsing objectInfo150.txt + visualizationCode/color150.mat "
        "(annotation value v = class v-1; 0 = other, don't care)",
        "classes": classes,
        "ignore_index": 255,
        "index_values": list(range(1, 151)),
        "dontcare_values": [0],
        "dontcare_color": [0, 0, 0],
    }


def voc_colors(n: int, offset: int = 1) -> np.ndarray:
    """The bit-interleaved colour map: bits 0/1/2 of k go to the top bits of r/g/b, and so on."""
    out = np.zeros((n, 3), np.uint8)
    for i in range(n):
        k, rgb = i + offset, [0, 0, 0]
        for j in range(8):
            for c in range(3):
                rgb[c] |= ((k >> c) & 1) << (7 - j)
            k >>= 3
        out[i] = rgb
    return out


def cocostuff(labels_txt: Path) -> dict:
    names = {}
    for line in labels_txt.read_text(encoding="utf-8").splitlines():
        if line.strip():
            i, _, name = line.partition(":")
            names[int(i)] = name.strip()
    if sorted(names) != list(range(183)):
        raise SystemExit(f"{labels_txt}: expected ids 0 (unlabeled) .. 182")
    colors = voc_colors(182)
    classes = [{"id": i, "name": names[i + 1], "color": [int(c) for c in colors[i]]} for i in range(182)]
    return {
        "source": "nightrome/cocostuff labels.txt (PNG value v = labels.txt id v+1; 255 = unlabeled); colours: "
        "SPADE's label visualiser (bit-interleaved colour map of v+1), COCO-Stuff publishes none",
        "classes": classes,
        "ignore_index": 255,
        "dontcare_values": [255],
        "dontcare_color": [0, 0, 0],
    }


def _dump(preset: dict) -> str:
    """JSON with one class per line (readable diffs)."""
    head = {k: v for k, v in preset.items() if k != "classes"}
    lines = [json.dumps(c) for c in preset["classes"]]
    body = ",\n  ".join(lines)
    fields = ",\n ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in head.items())
    return f'{{\n {fields},\n "classes": [\n  {body}\n ]\n}}\n'


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        raise SystemExit(__doc__)
    labels_py, object_info, color150, labels_txt = map(Path, argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, preset in (
        ("cityscapes", cityscapes(labels_py)),
        ("ade20k", ade20k(object_info, color150)),
        ("cocostuff", cocostuff(labels_txt)),
    ):
        path = OUT / f"{name}.json"
        path.write_text(_dump(preset), encoding="utf-8")
        print(f"wrote {path} ({len(preset['classes'])} classes)")


if __name__ == "__main__":
    main(sys.argv[1:])
