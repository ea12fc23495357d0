"""An endless, resumable stream of dataset keys.

Each key is (index, seed): the permutation of an epoch and the augmentation seed of a sample are
pure functions of (run seed, sample position), so resuming at position p replays exactly the
samples an uninterrupted run would have drawn, whatever the number of DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

_MIX = 0x9E3779B97F4A7C15


def _mix(*values: int) -> int:
    h = 0
    for v in values:
        h = (h ^ (v + _MIX + (h << 6) + (h >> 2))) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


class KeyStream(Sampler[tuple[int, int]]):
    def __init__(self, length: int, seed: int, start: int = 0, shuffle: bool = True) -> None:
        if length <= 0:
            raise ValueError("empty dataset")
        self.length = length
        self.seed = seed
        self.start = start
        self.shuffle = shuffle

    def _order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.length))
        g = torch.Generator().manual_seed(_mix(self.seed, epoch))
        return torch.randperm(self.length, generator=g).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start
        epoch, offset = divmod(position, self.length)
        order = self._order(epoch)
        while True:
            yield order[offset], _mix(self.seed, 1, position)
            position += 1
            offset += 1
            if offset == self.length:
                epoch, offset = epoch + 1, 0
                order = self._order(epoch)
