"""An endless, resumable stream of dataset keys.

Each key is (index, seed): the permutation of an epoch and the augmentation seed of a sample are
pure functions of (run seed, sample position), so resuming at position p replays exactly the
samples an uninterrupted run would have drawn, whatever the number of DataLoader workers.

Under torchrun each rank takes every `world`-th chunk of `chunk` keys of the one global stream:
the ranks' batches of a step together are the batch a single process with the same global batch
would draw, and a run resumed under another world size continues from the same global position.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

_MIX = 0x9E3779B97F4A7C15


def mix_seed(*values: int) -> int:
    """A 63-bit seed from integers (a hash combine), so derived streams do not overlap."""
    h = 0
    for v in values:
        h = (h ^ (v + _MIX + (h << 6) + (h >> 2))) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


class KeyStream(Sampler[tuple[int, int]]):
    def __init__(
        self,
        length: int,
        seed: int,
        start: int = 0,
        shuffle: bool = True,
        *,
        rank: int = 0,
        world: int = 1,
        chunk: int = 1,
    ) -> None:
        if length <= 0:
            raise ValueError("empty dataset")
        self.length = length
        self.seed = seed
        self.start = start
        self.shuffle = shuffle
        self.rank, self.world, self.chunk = rank, world, max(1, chunk)

    def _order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.length))
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
        return torch.randperm(self.length, generator=g).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i, key in enumerate(self._global()):
            if (i // self.chunk) % self.world == self.rank:
                yield key

    def _global(self) -> Iterator[tuple[int, int]]:
        position = self.start
        epoch, offset = divmod(position, self.length)
        order = self._order(epoch)
        while True:
            yield order[offset], mix_seed(self.seed, 1, position)
            position += 1
            offset += 1
            if offset == self.length:
                epoch, offset = epoch + 1, 0
                order = self._order(epoch)
