"""Dataset base: samples are a pure function of (index, seed), which makes resume exact.

The engine draws keys `(index, seed)` from a resumable stream; a dataset turns a key into a sample
using only `random.Random(seed)` for its random choices (crop, flip, caption pick), so the same key
gives the same sample in any process, worker or restart.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset


class I2IDataset(Dataset):
    """Subclasses take `(root, data, split, train)` and implement `__len__` and `load`."""

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
        if isinstance(key, tuple):
            index, seed = key
            return self.load(int(index), random.Random(seed))
        return self.load(int(key), None)
