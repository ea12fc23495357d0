"""Scores of a colorization against the photo it was made from, and the baselines beside them.

RGB PSNR/SSIM alone flatter a colorizer that stays gray (most of a photo's signal is its
lightness, which the model is given), so the chroma is scored on its own: PSNR and SSIM of the CIE
Lab ab channels (ab in [-110, 110], peak-to-peak 220, the `ab / 110` range of Lab colorizers) and
their mean absolute error in Lab units. Colourfulness (Hasler and Suesstrunk 2003) says whether
the output is as vivid as the real photo, which ab error cannot: a gray output has a small ab
error on muted photos and zero colourfulness.

The two baselines share the model's lightness (the ground truth's L): `gray` (ab = 0, the input
itself) and `mean_ab` (every pixel tinted with the mean ab of the training photos), the simplest
thing a model could learn.
"""

from __future__ import annotations

import numpy as np
import torch

from i2i.data.color import lab_to_rgb, rgb_to_lab
from i2i.metrics.paired import image_scores, to_uint8

AB_RANGE = 220.0  # ab in [-110, 110]


def colourfulness(rgb8: np.ndarray) -> float:
    """Hasler-Suesstrunk M on an (H,W,3) uint8 image: sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2),
    with rg = R - G, yb = (R + G) / 2 - B (about 0 for gray, 15 slightly, 33 moderately, 59 quite,
    82 highly, 109 extremely colourful, on their scale)."""
    r, g, b = (rgb8[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _ab(image: torch.Tensor) -> np.ndarray:
    """(3,H,W) in [-1,1] -> (H,W,2) ab of its 8-bit version (the picture a user gets)."""
    rgb = torch.from_numpy(to_uint8(image)).permute(2, 0, 1).double() / 255.0
    return rgb_to_lab(rgb)[1:].permute(1, 2, 0).numpy()


def color_scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """RGB l1/psnr/ssim (as `image_scores`), ab psnr/ssim/mae and both images' colourfulness."""
    from skimage.metrics import structural_similarity

    scores = image_scores(pred, target)
    a, b = _ab(pred), _ab(target)
    mse = float(((a - b) ** 2).mean())
    scores.update(
        ab_psnr=float(10 * np.log10(AB_RANGE**2 / max(mse, 1e-10))),
        ab_ssim=float(structural_similarity(a, b, channel_axis=2, data_range=AB_RANGE)),
        ab_mae=float(np.abs(a - b).mean()),
        colourfulness=colourfulness(to_uint8(pred)),
        colourfulness_target=colourfulness(to_uint8(target)),
    )
    return scores


def tinted(target: torch.Tensor, ab: tuple[float, float]) -> torch.Tensor:
    """The target's lightness with one constant ab everywhere, as (3,H,W) in [-1,1]; (0, 0) is
    the gray input."""
    lab = rgb_to_lab(target.double().add(1).mul(0.5))
    lab[1], lab[2] = ab
    return (lab_to_rgb(lab) * 2 - 1).to(target.dtype)


def mean_ab(images: list[torch.Tensor]) -> tuple[float, float]:
    """The mean ab over all pixels of (3,H,W) images in [-1,1] (the `mean_ab` baseline's tint)."""
    sums, count = np.zeros(2), 0
    for image in images:
        ab = rgb_to_lab(image.double().add(1).mul(0.5))[1:]
        sums += ab.sum(dim=(1, 2)).numpy()
        count += ab.shape[1] * ab.shape[2]
    return (float(sums[0] / count), float(sums[1] / count)) if count else (0.0, 0.0)


__all__ = ["AB_RANGE", "color_scores", "colourfulness", "mean_ab", "tinted"]
