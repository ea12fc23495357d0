"""Photo folders: the images of a data directory, split, matched by name and read as samples.

Every image modality needs the same first step: find the images of one split of `--data DIR`,
pair the files that belong to one sample (a photo and its mask, a label map and its instance map,
A/ and B/ of a paired set), read them robustly and crop/flip them together. `PhotoFolder` does
that once, so a plugin's dataset only adds what is its own (deriving an input, parsing a label
format). The layouts it understands:

    DIR/train/*.png  DIR/test/*.png  (DIR/val/)        split folders (test and val stand in
                                                        for each other when only one exists)
    DIR/*.png                                          no split folders: a stable held-out tenth
    DIR/train/A/x.png  DIR/train/B/x.jpg               sub-folders matched by file name
    DIR/trainA/  DIR/trainB/  DIR/testA/  DIR/testB/   one folder per split and domain:
                                                        `splits=split_names("A")`

The held-out split hashes each file's name (CRC-32), so it is the same on every machine and adding
photos never moves an existing one between train and test; a model card's held-out score stays
honest as a collection grows.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import torch
from PIL import Image

from i2i.data.dataset import sample_key
from i2i.data.images import (
    DEFAULT_MAX_PIXELS,
    ImageMode,
    image_to_tensor,
    label_to_tensor,
    list_images,
    natural_key,
    read_image,
)
from i2i.data.transforms import PairedTransform
from i2i.errors import InputError
from i2i.keys import TARGET

T = TypeVar("T")

SPLIT_FOLDERS: Mapping[str, tuple[str, ...]] = {
    "train": ("train",),
    "test": ("test", "val"),
    "val": ("val", "test"),
}
"""The folder names tried for each split, in order: data sets ship `test/` or `val/` or both, and
an evaluation asked for one should use the other rather than fail."""

HELD_OUT_FRACTION = 10
"""Without split folders, one image in this many (by name hash) is held out for test/val."""

Sample = dict[str, Path | None]


def data_directory(root: str | Path) -> Path:
    """`root` as a Path if it is a directory, else `InputError` naming it ("no such data directory"
    or "not a directory"): the first check of every dataset, before any file is listed."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "not a directory" if root.exists() else "no such data directory")
    return root


def split_names(
    suffix: str, splits: Mapping[str, Sequence[str]] = SPLIT_FOLDERS
) -> dict[str, tuple[str, ...]]:
    """The split folder names with `suffix` appended: `split_names("A")["train"] == ("trainA",)`.

    Two-domain data sets (CycleGAN's `DIR/trainA`, `DIR/testB`) keep one folder per split and
    domain; `PhotoFolder(root, split, splits=split_names("A"))` reads domain A of such a set, and
    reads a plain folder of photos (no such sub-folders) with the held-out split instead.
    """
    return {split: tuple(name + suffix for name in names) for split, names in splits.items()}


def is_held_out(name: str, fraction: int = HELD_OUT_FRACTION) -> bool:
    """Whether a sample named `name` (a file stem) belongs to the held-out split.

    A hash of the name, not a position in a sorted list and not a random draw: stable across
    machines and runs, and adding or removing other files never changes it.
    """
    return zlib.crc32(name.encode()) % fraction == 0


def split_folder(
    root: str | Path, split: str, splits: Mapping[str, Sequence[str]] = SPLIT_FOLDERS
) -> tuple[Path, bool | None]:
    """(the folder holding `split`, which side of the held-out split to keep, or None for all).

    The first existing folder of `splits[split]` under `root` wins (None: keep every file in it).
    When no split folder of any split exists, `root` itself is the folder and the second value says
    whether `split` is the held-out side (True for test/val, False for train). A layout with split
    folders but not this one raises `InputError`: silently training on the test set would be worse.
    """
    root = Path(root)
    for name in splits.get(split, (split,)):
        if (root / name).is_dir():
            return root / name, None
    known = {name for names in splits.values() for name in names}
    if any((root / name).is_dir() for name in known):
        wanted = "/, ".join(splits.get(split, (split,)))
        raise InputError(root, f"has no {split!r} split folder ({wanted}/)")
    return root, split != "train"


def select_split(
    items: Sequence[T],
    held_out: bool | None,
    name: Callable[[T], str],
    fraction: int = HELD_OUT_FRACTION,
) -> list[T]:
    """Keep one side of the held-out split: held_out True -> the held-out items, False -> the rest,
    None -> all. `name(item)` is what is hashed (see `is_held_out`).

    A folder of two or more items always holds at least one out (the last), so a tiny folder still
    has a test split; a single item is both (there is nothing else to train or test on).
    """
    items = list(items)
    if held_out is None or len(items) < 2:
        return items
    test = [item for item in items if is_held_out(name(item), fraction)] or items[-1:]
    if held_out:
        return test
    chosen = {id(item) for item in test}
    return [item for item in items if id(item) not in chosen]


def sample_name(path: Path, folder: Path) -> str:
    """A file's name within `folder` without its suffix ("x" for folder/x.png, "album/x" when
    listed recursively): what files of one sample share across sub-folders."""
    return path.relative_to(folder).with_suffix("").as_posix()


def match_by_name(
    folders: Mapping[str, Path], optional: Collection[str] = (), recursive: bool = False
) -> list[Sample]:
    """Files of several folders paired by name (suffix ignored: photo.jpg + mask.png), in name order
    (`natural_key`: frame 99999 before frame 100000).

    `folders` maps an entry name to its folder. Every name must have a file in every folder not in
    `optional`; a lone file raises `InputError` naming it, since a missing partner is almost always
    a data mistake. Files of an optional folder fill their entry when present and None otherwise
    (an instance map that only some label maps have); an optional file matching no sample is
    ignored. Two files of one folder with the same name (x.png and x.jpg) are ambiguous: an error.
    """
    missing = set(optional) - set(folders)
    if missing:
        raise ValueError(f"optional names entries that are not folders: {', '.join(sorted(missing))}")
    listed: dict[str, dict[str, Path]] = {}
    for entry, folder in folders.items():
        files: dict[str, Path] = {}
        if entry in optional and not folder.is_dir():
            listed[entry] = files
            continue
        for path in list_images(folder, recursive=recursive):
            key = sample_name(path, folder)
            if key in files:
                raise InputError(
                    path, f"has the same name as {files[key].name}: which one belongs to the sample?"
                )
            files[key] = path
        listed[entry] = files
    required = [e for e in folders if e not in optional]
    if not required:
        raise ValueError("match_by_name needs at least one folder that is not optional")
    names = sorted(set().union(*(listed[e].keys() for e in required)), key=natural_key)
    for key in names:
        absent = [e for e in required if key not in listed[e]]
        if absent:
            lone = next(listed[e][key] for e in required if key in listed[e])
            where = " and ".join(f"{folders[e].name}/" for e in absent)
            raise InputError(lone, f"has no partner with the same name in {where}")
    return [{entry: listed[entry].get(key) for entry in folders} for key in names]


class PhotoFolder:
    """The images of one split of a data directory, as samples of one or more named entries.

    `PhotoFolder(root, "train")` lists the photos of `root/train/` (or of `root` with the held-out
    split, see the module doc) as samples `{"target": path}`; `key` renames that entry.
    `folders={"input": "A", "target": "B"}` instead pairs the files of sub-folders of the split
    folder by name (`match_by_name`; entries in `optional` may be missing). `splits` maps each
    split to the folder names tried (default `SPLIT_FOLDERS`; `split_names("A")` for trainA/testA).
    `recursive` lists sub-directories too (albums), matching by relative path.

    `load(index, rng)` reads every entry (`read_image` in `modes[entry]`, default RGB; "raw" for
    label maps, which are then resampled with nearest neighbour and returned by `label_to_tensor`),
    applies `transform` (one `PairedTransform` draw shared by all entries, deterministic when rng is
    None) and returns tensors; `ds[(index, seed)]` is `load(index, random.Random(seed))` as for
    `I2IDataset`. A plugin's dataset that derives its input (edges, grey, a downscale) uses
    `samples`, `paths` and `read` and applies its own steps. An empty split raises `InputError`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        key: str = TARGET,
        folders: Mapping[str, str] | None = None,
        optional: Collection[str] = (),
        splits: Mapping[str, Sequence[str]] = SPLIT_FOLDERS,
        recursive: bool = False,
        transform: PairedTransform | None = None,
        modes: Mapping[str, ImageMode] | None = None,
        held_out_fraction: int = HELD_OUT_FRACTION,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.root = data_directory(root)
        self.split = split
        self.transform = transform
        self.modes: dict[str, ImageMode] = dict(modes or {})
        self.max_pixels = max_pixels
        self.folder, held_out = split_folder(self.root, split, splits)
        if folders is None:
            self.entries: tuple[str, ...] = (key,)
            listed: list[Sample] = [{key: p} for p in list_images(self.folder, recursive=recursive)]
        else:
            self.entries = tuple(folders)
            listed = match_by_name({e: self.folder / sub for e, sub in folders.items()}, optional, recursive)
        unknown = set(self.modes) - set(self.entries)
        if unknown:
            raise ValueError(f"modes names entries that are not listed: {', '.join(sorted(unknown))}")
        self._primary = next(e for e in self.entries if e not in optional)
        primary_folder = self.folder / folders[self._primary] if folders else self.folder
        self.samples: list[Sample] = select_split(
            listed,
            held_out,
            lambda s: sample_name(s[self._primary], primary_folder),  # type: ignore[arg-type]
            held_out_fraction,
        )
        if not self.samples:
            where = f" in {', '.join(f'{sub}/' for sub in folders.values())}" if folders else ""
            raise InputError(self.folder, f"no images for split {split!r}{where}")

    def __repr__(self) -> str:
        return (
            f"PhotoFolder({str(self.folder)!r}, split={self.split!r}, entries={self.entries}, n={len(self)})"
        )

    def __len__(self) -> int:
        return len(self.samples)

    def paths(self, index: int) -> Sample:
        """The files of sample `index`, by entry (None for a missing optional entry)."""
        return self.samples[index]

    def name(self, index: int) -> str:
        """The sample's file name without suffix (what reports and evaluators show)."""
        return self.samples[index][self._primary].stem  # type: ignore[union-attr]

    def read(self, index: int) -> dict[str, Image.Image]:
        """The decoded images of sample `index`, untransformed; missing optional entries left out.

        Decoding is `read_image`'s: a corrupt, truncated or oversized file raises `InputError`
        naming it, here and not as a traceback inside a DataLoader worker.
        """
        return {
            entry: read_image(path, self.modes.get(entry, "RGB"), self.max_pixels)
            for entry, path in self.samples[index].items()
            if path is not None
        }

    def load(self, index: int, rng: random.Random | None) -> dict[str, torch.Tensor]:
        """Sample `index` as tensors: images (C,H,W) in [-1, 1], raw entries as label tensors."""
        images = self.read(index)
        raw = {entry for entry in images if self.modes.get(entry) == "raw"}
        if self.transform is not None:
            images = self.transform(images, rng, nearest=raw)
        return {
            entry: label_to_tensor(img) if entry in raw else image_to_tensor(img)
            for entry, img in images.items()
        }

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, rng = sample_key(key)
        return self.load(index, rng)
