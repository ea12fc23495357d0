"""`i2i eval` for img2img: L1, PSNR and SSIM against the paired targets of a held-out split,
with the trivial baseline beside them (bicubic upsampling for super-resolution, the input itself
where input and target are both colour images of the same size), so every number has a reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from i2i.errors import InputError
from i2i.metrics.paired import image_scores, mean_scores
from i2i.metrics.result import evaluation
from i2i.modality import resolve_object


def _baseline(inp: torch.Tensor, target: torch.Tensor, task: str) -> torch.Tensor | None:
    if task == "sr":
        return F.interpolate(inp[None], size=target.shape[-2:], mode="bicubic", align_corners=False)[0]
    if inp.shape == target.shape:
        return inp
    return None


def evaluate(pipe: Any, data: Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    config = pipe.config
    dataset = resolve_object(pipe.modality.dataset)(data, config.data, split, False)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise InputError(data, f"no {split} images to evaluate on")
    model_rows, base_rows = [], []
    for i in range(n):
        sample = dataset[i]
        out = pipe.generate({k: v[None] for k, v in sample.items()}, seed=0)[0]
        model_rows.append(image_scores(out, sample["target"]))
        base = _baseline(sample["input"], sample["target"], config.data.task)
        if base is not None:
            base_rows.append(image_scores(base.clamp(-1, 1), sample["target"]))
    metrics: dict[str, Any] = {"task": config.data.task, "model": mean_scores(model_rows)}
    if base_rows:
        metrics["baseline"] = {
            "name": "bicubic" if config.data.task == "sr" else "identity",
            **mean_scores(base_rows),
        }
    notes = "l1 on [0,1]; psnr in dB and ssim on 8-bit RGB; means over images"
    return evaluation(pipe, data, split, n, metrics, notes)
