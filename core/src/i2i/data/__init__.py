"""Reading and writing the files the core works on, and the geometry applied to training samples.

- `i2i.data.folders`: `PhotoFolder`, the images of one split of a data directory (split folders or
  a stable held-out tenth, files of sub-folders matched by name, two-domain layouts).
- `i2i.data.images`: robust image decoding (any mode, EXIF orientation, size limits, corrupt files
  become `InputError`), image <-> tensor conversion, atomic saving, sample sheets, folder listing.
- `i2i.data.text`: text side-car files (UTF-8 text of bounded size, one item a line, JSON lines,
  pickled name lists read without executing anything) with one-line errors.
- `i2i.data.jsonfile`: JSON of user files parsed with bounds (size, nesting, integer length,
  finite numbers), one `InputError` for anything else; shared type checks.
- `i2i.data.video`: streaming video decoding (allowed containers only, frame size capped) and
  atomic video encoding (PyAV).
- `i2i.data.transforms`: one random crop/flip applied identically to every image of a sample.
- `i2i.data.dataset`: `I2IDataset`, the base of a modality's dataset.

The names below are importable from `i2i.data` directly (`from i2i.data import PhotoFolder,
read_image`), but are resolved on first access: these modules pull in torch and PIL, and importing
the package must stay cheap for code (such as the plugin manager) that only needs a submodule.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "I2IDataset": "i2i.data.dataset",
    "PhotoFolder": "i2i.data.folders",
    "data_directory": "i2i.data.folders",
    "select_split": "i2i.data.folders",
    "is_held_out": "i2i.data.folders",
    "match_by_name": "i2i.data.folders",
    "split_names": "i2i.data.folders",
    "read_image": "i2i.data.images",
    "read_labels": "i2i.data.images",
    "list_images": "i2i.data.images",
    "natural_key": "i2i.data.images",
    "check_size": "i2i.data.images",
    "image_to_tensor": "i2i.data.images",
    "label_to_tensor": "i2i.data.images",
    "tensor_to_image": "i2i.data.images",
    "save_image": "i2i.data.images",
    "make_grid_image": "i2i.data.images",
    "PairedTransform": "i2i.data.transforms",
    "read_text": "i2i.data.text",
    "read_lines": "i2i.data.text",
    "read_json": "i2i.data.jsonfile",
    "parse_json": "i2i.data.jsonfile",
    "json_rows": "i2i.data.text",
    "read_name_list": "i2i.data.text",
    "VideoWriter": "i2i.data.video",
    "iter_video_frames": "i2i.data.video",
    "iter_video_arrays": "i2i.data.video",
    "probe_video": "i2i.data.video",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'i2i.data' has no attribute {name!r}")
