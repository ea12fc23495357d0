"""Dataset base: samples are a pure function of (index, seed), which makes resume exact.

The engine draws keys `(index, seed)` from a resumable stream; a dataset turns a key into a sample
using only `random.Random(seed)` for its random choices (crop, flip, which of several texts), so the same key
gives the same sample in any process, worker or restart.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset


def sample_key(key: int | tuple[int, int]) -> tuple[int, random.Random | None]:
    """An engine key -> (index, rng): `(index, seed)` augments with `random.Random(seed)`, a plain
    index loads deterministically (rng None), as evaluation and sample sheets need.

    Every dataset that indexes this way (the `I2IDataset` subclasses, `PhotoFolder`) resumes
    exactly, because its randomness is a function of the key alone, never of a global RNG.
    """
    if isinstance(key, tuple):
        index, seed = key
        return int(index), random.Random(seed)
    return int(key), None


class I2IDataset(Dataset):
    """The base of a modality's training data: what `Modality.dataset` names.

    The engine constructs it as `(root, data, split, train)`: `root` is the `--data` directory,
    `data` the `data:` section of the config, `split` "train", "test" or "val", and `train` whether
    samples are augmented. Subclasses implement `__len__` and `load(index, rng)`; indexing with
    `ds[i]` or `ds[(i, seed)]` calls `load` (see `sample_key`). Build the file listing on
    `i2i.data.folders.PhotoFolder` rather than rewriting split handling.
    """

    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        self.root = Path(root)
        self.data = data
        self.split = split
        self.train = train

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def load(self, index: int, rng: random.Random | None) -> dict[str, torch.Tensor]:  # pragma: no cover
        """One sample; rng is None for deterministic loading (evaluation, samples)."""
        raise NotImplementedError

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, rng = sample_key(key)
        return self.load(index, rng)
