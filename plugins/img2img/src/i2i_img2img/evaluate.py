"""`i2i eval` for img2img: L1, PSNR and SSIM against the paired targets of a held-out split,
with the trivial baseline beside them (bicubic upsampling for super-resolution, the input itself
where input and target are both colour images of the same size), so every number has a reference.
Colorization adds chroma scores and two baselines (`i2i_img2img.color_metrics`): the gray input
and a tint of the training photos' mean ab (read from the data's train split when it has one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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


TINT_SAMPLES = 200  # training photos averaged for the mean-ab baseline (evenly spaced)


def _training_tint(pipe: Any, data: Path, split: str) -> tuple[float, float] | None:
    """The mean ab of (up to TINT_SAMPLES of) the training photos; None without a train split."""
    from i2i_img2img.color_metrics import mean_ab

    if split == "train":
        return None
    try:
        train = resolve_object(pipe.modality.dataset)(data, pipe.config.data, "train", False)
    except InputError:
        return None
    if len(train) == 0:
        return None
    picks = np.linspace(0, len(train) - 1, min(TINT_SAMPLES, len(train))).round().astype(int)
    return mean_ab([train[int(i)]["target"] for i in sorted(set(picks))])


def _evaluate_colorize(pipe: Any, dataset: Any, data: Path, split: str, n: int) -> dict[str, Any]:
    from i2i_img2img.color_metrics import color_scores, tinted

    tint = _training_tint(pipe, data, split)
    rows: dict[str, list[dict[str, float]]] = {"model": [], "gray": [], "mean_ab": []}
    for i in range(n):
        sample = dataset[i]
        target = sample["target"]
        out = pipe.generate({k: v[None] for k, v in sample.items()}, seed=0)[0]
        rows["model"].append(color_scores(out, target))
        rows["gray"].append(color_scores(tinted(target, (0.0, 0.0)), target))
        if tint is not None:
            rows["mean_ab"].append(color_scores(tinted(target, tint), target))
    metrics: dict[str, Any] = {"task": "colorize", **{k: mean_scores(v) for k, v in rows.items() if v}}
    if tint is not None:
        metrics["mean_ab_tint"] = [round(tint[0], 3), round(tint[1], 3)]
    notes = (
        "l1 on [0,1], psnr (dB) and ssim on 8-bit RGB; ab_psnr/ab_ssim on CIE Lab ab (range 220), "
        "ab_mae in Lab units; colourfulness: Hasler-Suesstrunk M of the output, "
        "colourfulness_target of the ground truth; baselines keep the true lightness: gray (ab 0), "
        "mean_ab (the training photos' mean ab); means over images"
    )
    return evaluation(pipe, data, split, n, metrics, notes)


def evaluate(pipe: Any, data: Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    config = pipe.config
    dataset = resolve_object(pipe.modality.dataset)(data, config.data, split, False)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise InputError(data, f"no {split} images to evaluate on")
    if config.data.task == "colorize":
        return _evaluate_colorize(pipe, dataset, data, split, n)
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
