"""The warping prior: move the portrait's pixels to where the driving landmarks put them.

A talking-head generator that repaints the face from a sketch learns the faces it was trained on
and loses everyone else's identity; one that *moves* the portrait keeps the real skin, hair and
eyes of any face, and only has to fill in what the motion uncovers (the inside of an opened mouth,
the far side of a turned head). The motion is a thin-plate spline (Bookstein 1989) through the 68
landmark correspondences, pinned at the image border so the background stays put: the smoothest
deformation that takes every portrait landmark exactly onto its driving position.

numpy for the (small, per-sample) spline solve; torch's grid_sample for the resampling.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

BORDER = 3  # anchors per image side, held fixed


def _anchors() -> np.ndarray:
    t = np.linspace(-1, 1, BORDER + 2)[1:-1]
    sides = [np.stack([t, np.full_like(t, v)], 1) for v in (-1.0, 1.0)]
    sides += [np.stack([np.full_like(t, v), t], 1) for v in (-1.0, 1.0)]
    corners = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], np.float64)
    return np.concatenate([*sides, corners])


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """U(r) = r^2 log r^2 between every point of a and of b."""
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.where(d2 > 0, d2 * np.log(np.maximum(d2, 1e-12)), 0.0)


def tps_grid(dst: np.ndarray, src: np.ndarray, size: tuple[int, int], regularise: float = 1e-3) -> np.ndarray:
    """The (H, W, 2) sampling grid (normalised [-1, 1] coordinates) that pulls each output pixel
    from the source image: a thin-plate spline through dst -> src (both (N, 2), normalised), plus
    fixed border anchors. `regularise` keeps near-duplicate landmarks (a closed eye) solvable."""
    w, h = size
    anchors = _anchors()
    d = np.concatenate([dst.astype(np.float64), anchors])
    s = np.concatenate([src.astype(np.float64), anchors])
    n = len(d)
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = _kernel(d, d) + regularise * np.eye(n)
    system[:n, n] = 1
    system[:n, n + 1 :] = d
    system[n, :n] = 1
    system[n + 1 :, :n] = d.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = s
    coef = np.linalg.lstsq(system, rhs, rcond=None)[0]
    xs = (np.arange(w) + 0.5) / w * 2 - 1
    ys = (np.arange(h) + 0.5) / h * 2 - 1
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    mapped = _kernel(grid, d) @ coef[:n] + coef[n] + grid @ coef[n + 1 :]
    return mapped.reshape(h, w, 2).astype(np.float32)


def normalise(points: Tensor | np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel (x, y), pixel centres at integers -> grid_sample's [-1, 1] (align_corners=False)."""
    p = np.asarray(points, np.float64)
    return (p + 0.5) / np.array([width, height]) * 2 - 1


def warp_to(image: Tensor, src_points: Tensor, dst_points: Tensor) -> Tensor:
    """(B,C,H,W) images with their (B,68,2) pixel landmarks -> the images warped so that those
    landmarks land on `dst_points` (B,68,2), by thin-plate splines."""
    b, _, h, w = image.shape
    grids = [
        tps_grid(normalise(dst_points[i].cpu(), w, h), normalise(src_points[i].cpu(), w, h), (w, h))
        for i in range(b)
    ]
    grid = torch.from_numpy(np.stack(grids)).to(device=image.device, dtype=image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
