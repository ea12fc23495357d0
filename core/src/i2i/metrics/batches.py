"""Batches for an evaluator: a split's samples stacked, and a pipeline run over them in chunks.

An evaluator scores a whole split at once (a judge's mIoU, a mean over images), but the generator
should see small chunks: memory stays bounded whatever the split's size. Both steps are the same
in every plugin's evaluator, so they live here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from i2i.keys import TARGET


def stack_samples(dataset: Any, n: int, keys: Sequence[str] | None = None) -> dict[str, Tensor]:
    """Samples 0..n-1 of `dataset` (loaded without augmentation: `dataset[i]`) stacked into one
    batch, entry by entry: `keys`, or every entry of the first sample."""
    items = [dataset[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in (items[0] if keys is None else keys)}


def generate_in_chunks(
    pipe: Any,
    batch: Mapping[str, Any],
    chunk: int,
    seed: int = 0,
    num_samples: int = 1,
    seed_per_chunk: bool = True,
    skip: Collection[str] = (TARGET,),
) -> Tensor:
    """`pipe.generate` over `batch` `chunk` samples at a time, the outputs concatenated in order.

    Every entry except those in `skip` (the ground truth) is sliced alike, tensors and lists
    (texts) alike. The chunk starting at sample `start` is generated with seed `seed + start` when
    `seed_per_chunk` (chunks draw different noise), else with `seed`: for a given chunk size the
    result is the same on every run."""
    entries = {k: v for k, v in batch.items() if k not in skip}
    total = len(next(iter(entries.values())))
    outs = []
    for start in range(0, total, chunk):
        part = {k: v[start : start + chunk] for k, v in entries.items()}
        outs.append(
            pipe.generate(part, num_samples=num_samples, seed=seed + start if seed_per_chunk else seed)
        )
    return torch.cat(outs)
