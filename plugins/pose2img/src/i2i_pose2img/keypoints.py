"""Body keypoints in the COCO-18 / OpenPose order: readers, flipping and rendering.

Every reader returns an (18, 2) float32 array of (x, y) pixel coordinates with -1 for a missing
point, whatever the source: OpenPose JSON (BODY_25 or COCO-18 `pose_keypoints_2d`), COCO keypoint
JSON (17 points; the neck is the midpoint of the shoulders), or the DeepFashion pose-transfer CSV
(`name:keypoints_y:keypoints_x`). Missing points are normal (occlusion, crops) and must never
crash anything downstream: they render as empty maps.

Rendering is done on the fly at the working resolution as float Gaussian heatmaps (never stored
as uint8, which would quantise the peak and the tails) plus limb maps, so the same keypoint file
serves any image size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from i2i.data.jsonfile import is_int, is_number, parse_json, read_json
from i2i.data.text import read_text
from i2i.errors import InputError

if TYPE_CHECKING:
    from torch import Tensor

KEYPOINTS = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
)  # fmt: skip
MISSING = -1.0
# Horizontal flip: left and right swap names.
FLIP = tuple(KEYPOINTS.index(n.replace("r_", "#").replace("l_", "r_").replace("#", "l_")) for n in KEYPOINTS)
# The 17 limbs OpenPose draws for COCO-18.
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
BODY_25_TO_COCO_18 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
# COCO-17: nose, l_eye, r_eye, l_ear, r_ear, l_sh, r_sh, l_el, r_el, l_wr, r_wr, l_hip, r_hip, l_kn, r_kn, l_an, r_an
COCO_17_TO_COCO_18 = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)


def missing(points: np.ndarray) -> np.ndarray:
    """(18,) bool: which points are missing."""
    return (points < 0).any(axis=1)


def _from_triples(values: list[Any], order: tuple[int | None, ...], path: Path) -> np.ndarray:
    """[x, y, confidence/visibility] * K -> (18, 2), a point with confidence 0 missing."""
    # checked one by one: numpy would turn the string "5" into 5.0 and a nested list into an error
    if len(values) % 3 or not all(is_number(v) for v in values):
        raise InputError(path, "keypoints must be numbers in [x, y, c] triples")
    triples = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    if not (
        np.isfinite(triples) & (np.abs(triples) < 1e30)
    ).all():  # 1e30: beyond any image, near float32's end
        raise InputError(path, "keypoints contain NaN or infinity (or absurd values)")
    out = np.full((len(KEYPOINTS), 2), MISSING, np.float32)
    for i, j in enumerate(order):
        if j is not None and j < len(triples) and triples[j, 2] > 0 and (triples[j, :2] >= 0).all():
            out[i] = triples[j, :2]
    return out


def _openpose(data: Mapping[str, Any], path: Path) -> np.ndarray:
    people = data.get("people")
    if not isinstance(people, list) or not people:
        raise InputError(path, "no person in this OpenPose file")
    best = None
    for person in people:
        values = person.get("pose_keypoints_2d") if isinstance(person, Mapping) else None
        if not isinstance(values, list):
            raise InputError(path, "a person has no pose_keypoints_2d list")
        if len(values) == 25 * 3:
            points = _from_triples(values, BODY_25_TO_COCO_18, path)
        elif len(values) == 18 * 3:
            points = _from_triples(values, tuple(range(18)), path)
        else:
            raise InputError(
                path, f"pose_keypoints_2d has {len(values)} values: expected 75 (BODY_25) or 54 (COCO-18)"
            )
        if best is None or (~missing(points)).sum() > (~missing(best)).sum():
            best = points  # several people: the most complete one
    assert best is not None
    return best


def _has_keypoints(annotation: Any, number: int, path: Path) -> bool:
    """Whether a COCO annotation claims keypoints; a count that is not an integer is refused."""
    if not isinstance(annotation, Mapping):
        return False
    count = annotation.get("num_keypoints", 1)
    if not is_int(count):
        raise InputError(path, f"annotation {number}: num_keypoints must be an integer, not {count!r:.40}")
    return count > 0


def _coco(data: Any, path: Path) -> np.ndarray:
    if isinstance(data, Mapping) and "annotations" in data:
        annotations = data["annotations"]
        if not isinstance(annotations, list):
            raise InputError(path, "'annotations' must be a list of COCO annotations")
        candidates = [a for i, a in enumerate(annotations) if _has_keypoints(a, i, path)]
        if not candidates:
            raise InputError(path, "no annotation with keypoints in this COCO file")
        data = candidates[0]
    values = data.get("keypoints") if isinstance(data, Mapping) else None
    if not isinstance(values, list) or len(values) != 17 * 3:
        raise InputError(path, "expected COCO keypoints: a list of 51 numbers (17 x [x, y, v])")
    points = _from_triples(values, COCO_17_TO_COCO_18, path)
    right, left = points[KEYPOINTS.index("r_shoulder")], points[KEYPOINTS.index("l_shoulder")]
    if (right >= 0).all() and (left >= 0).all():
        points[KEYPOINTS.index("neck")] = (right + left) / 2
    return points


def read_pose_json(path: str | Path) -> np.ndarray:
    """OpenPose (`{"people": [{"pose_keypoints_2d": ...}]}`) or COCO keypoint JSON -> (18, 2)."""
    path = Path(path)
    data = read_json(path)
    if isinstance(data, Mapping) and "people" in data:
        return _openpose(data, path)
    return _coco(data, path)


def _coords(text: str, path: Path, line: int) -> np.ndarray:
    try:
        values = parse_json(text, path)
    except InputError:
        raise InputError(path, f"line {line}: coordinates must look like [y0, y1, ...]") from None
    if not isinstance(values, list) or len(values) != len(KEYPOINTS):
        raise InputError(path, f"line {line}: expected {len(KEYPOINTS)} coordinates")
    if not all(is_number(v) for v in values):
        raise InputError(path, f"line {line}: coordinates must be numbers")
    with np.errstate(over="ignore"):
        coords = np.asarray(values, dtype=np.float64).astype(np.float32)
    if not np.isfinite(coords).all():
        raise InputError(path, f"line {line}: coordinates contain NaN, infinity or absurd values")
    return coords


def read_deepfashion_csv(path: str | Path) -> dict[str, np.ndarray]:
    """DeepFashion pose-transfer annotations (`name:keypoints_y:keypoints_x`, -1 missing) ->
    {image name: (18, 2) (x, y)}."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip() or (number == 1 and line.replace(" ", "").startswith("name:")):
            continue
        parts = line.split(":")
        if len(parts) != 3:
            raise InputError(path, f"line {number}: expected name:keypoints_y:keypoints_x")
        ys, xs = _coords(parts[1], path, number), _coords(parts[2], path, number)
        points = np.stack([xs, ys], axis=1)
        points[(xs < 0) | (ys < 0)] = MISSING
        out[parts[0].strip()] = points
    return out


def scale_points(points: np.ndarray, source: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Pixel keypoints of an image of `source` (w, h) -> those of the image resized to `size`."""
    scale = np.array([size[0] / source[0], size[1] / source[1]], np.float32)
    out = ((points + 0.5) * scale - 0.5).astype(np.float32)
    out[missing(points)] = MISSING
    return out


def fit_points(points: np.ndarray, frame: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Keypoints found in a `frame` (w, h) photo or video -> those of a `size` (w, h) image that
    shows the frame scaled to its height and centred: a pose from a landscape video keeps its body
    proportions on a portrait source instead of being squeezed sideways."""
    s = size[1] / frame[1]
    out = ((points + 0.5) * s - 0.5 + np.array([(size[0] - frame[0] * s) / 2, 0], np.float32)).astype(
        np.float32
    )
    out[missing(points)] = MISSING
    return out


def flip(points: np.ndarray, width: int) -> np.ndarray:
    """Keypoints of the horizontally flipped image: x mirrored, left and right swapped."""
    out = points.copy()
    present = ~missing(points)
    out[present, 0] = width - 1 - points[present, 0]
    return out[list(FLIP)]


def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    w, h = size
    return np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]


# Rendering is numpy, not torch: these small maps are made per sample in the data pipeline, where
# torch's intra-op threads only add overhead (measured 20x slower on a busy 2-core machine).
def heatmaps(
    points: np.ndarray, source: tuple[int, int], size: tuple[int, int], sigma: float = 6.0
) -> Tensor:
    """(18, 2) points in an image of `source` (w, h) -> float32 torch (18, H, W) Gaussian maps at
    `size` (w, h), peak 1 at each point, sigma in pixels of the 256-pixel-high reference scale
    (so maps look alike at every resolution); missing points give zero maps."""
    import torch

    ys, xs = _grid(size)
    s = sigma * size[1] / 256
    p = scale_points(np.asarray(points, np.float32), source, size)
    d2 = (xs[None] - p[:, 0, None, None]) ** 2 + (ys[None] - p[:, 1, None, None]) ** 2
    present = (p >= 0).all(axis=1).astype(np.float32)[:, None, None]
    return torch.from_numpy(np.exp(-d2 / (2 * s * s)).astype(np.float32) * present)


def limb_maps(
    points: np.ndarray, source: tuple[int, int], size: tuple[int, int], sigma: float = 4.0
) -> Tensor:
    """float32 torch (17, H, W): for each limb with both ends present, a Gaussian of the distance
    to the segment between them (zero maps for limbs with a missing end)."""
    import torch

    ys, xs = _grid(size)
    s = sigma * size[1] / 256
    p = scale_points(np.asarray(points, np.float32), source, size)
    a, b = p[[i for i, _ in LIMBS]], p[[j for _, j in LIMBS]]
    present = ((a >= 0).all(axis=1) & (b >= 0).all(axis=1)).astype(np.float32)[:, None, None]
    d = b - a
    length2 = np.maximum((d * d).sum(axis=1), 1e-6)[:, None, None]
    rel_x, rel_y = xs[None] - a[:, 0, None, None], ys[None] - a[:, 1, None, None]
    t = np.clip((rel_x * d[:, 0, None, None] + rel_y * d[:, 1, None, None]) / length2, 0, 1)
    d2 = (rel_x - t * d[:, 0, None, None]) ** 2 + (rel_y - t * d[:, 1, None, None]) ** 2
    return torch.from_numpy(np.exp(-d2 / (2 * s * s)).astype(np.float32) * present)


def pose_maps(
    points: np.ndarray, source: tuple[int, int], size: tuple[int, int], sigma: float = 6.0
) -> Tensor:
    """Heatmaps and limb maps stacked: the (35, H, W) float pose condition."""
    import torch

    return torch.cat([heatmaps(points, source, size, sigma), limb_maps(points, source, size, sigma * 2 / 3)])


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance between the points present in both (pixels); NaN if none is shared."""
    both = ~missing(a) & ~missing(b)
    if not both.any():
        return math.nan
    return float(np.linalg.norm(a[both] - b[both], axis=1).mean())
