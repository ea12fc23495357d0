"""Scores of a generated image against its paired ground truth, as papers publish them: on 8-bit
RGB, SSIM from scikit-image (a plugin that evaluates with it depends on scikit-image).

The masked variant follows pose-transfer work (PATN's mask-SSIM): both images are multiplied by the
person mask before SSIM and PSNR, so a background the model cannot know does not swamp the score,
and L1 is averaged over the masked pixels only."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3,H,W) in [-1,1] -> (H,W,3) uint8, rounded as `save_image` rounds: scores are computed on
    the 8-bit image a user would get, the way papers compute them, not on float outputs."""
    return ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def image_scores(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> dict[str, float]:
    """l1 (in [0,1]), psnr (dB) and ssim of one (3,H,W) prediction in [-1,1] against its target;
    with a (H,W) boolean `mask`, the masked scores."""
    from skimage.metrics import structural_similarity

    a, b = to_uint8(pred).astype(np.float64), to_uint8(target).astype(np.float64)
    if mask is None:
        keep = np.ones(a.shape[:2], bool)
    else:
        keep = mask.detach().cpu().numpy().astype(bool)
        a, b = a * keep[..., None], b * keep[..., None]
    diff = a - b
    mse = float((diff**2).mean())
    return {
        "l1": float(np.abs(diff[keep]).mean() / 255.0) if keep.any() else 0.0,
        "psnr": float(10 * np.log10(255.0**2 / max(mse, 1e-10))),
        "ssim": float(structural_similarity(a, b, channel_axis=2, data_range=255)),
    }


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each score over `rows` (one dict per image, as `image_scores` returns), rounded
    to 5 decimals so JSON results stay readable and diffable; {} for no rows."""
    return {k: round(float(np.mean([r[k] for r in rows])), 5) for k in rows[0]} if rows else {}
