"""The warping prior: move the source person's body parts to where the target pose puts them.

A generator that must paint a person in a new pose from scratch hallucinates the clothes; one that
starts from the source pixels moved into place only has to fix what moving cannot (occlusions,
foreshortening, new views). For each body part (head, torso, upper and lower arms and legs) an
affine map from target to source coordinates is fitted to the part's keypoints (least squares;
a similarity transform for the two-point limbs), the source image is sampled through it, and the
parts are blended with soft masks around the target pose's segments. Parts with a missing
keypoint in either pose are left out, so their pixels come from the refinement network alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from i2i_pose2img.keypoints import KEYPOINTS

_K = {name: i for i, name in enumerate(KEYPOINTS)}
PARTS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("head", (_K["nose"], _K["neck"], _K["r_eye"], _K["l_eye"])),
    ("torso", (_K["neck"], _K["r_shoulder"], _K["l_shoulder"], _K["r_hip"], _K["l_hip"])),
    ("r_upper_arm", (_K["r_shoulder"], _K["r_elbow"])),
    ("r_lower_arm", (_K["r_elbow"], _K["r_wrist"])),
    ("l_upper_arm", (_K["l_shoulder"], _K["l_elbow"])),
    ("l_lower_arm", (_K["l_elbow"], _K["l_wrist"])),
    ("r_thigh", (_K["r_hip"], _K["r_knee"])),
    ("r_shin", (_K["r_knee"], _K["r_ankle"])),
    ("l_thigh", (_K["l_hip"], _K["l_knee"])),
    ("l_shin", (_K["l_knee"], _K["l_ankle"])),
)
CHANNELS = 3 + len(PARTS)  # the blended warp + one mask per part


def _similarity(dst: Tensor, src: Tensor) -> Tensor:
    """2x3 similarity (rotation, scale, translation) taking dst (2,2) points onto src (2,2)."""
    d, s = dst[1] - dst[0], src[1] - src[0]
    denom = (d * d).sum().clamp(min=1e-6)
    a = (d[0] * s[0] + d[1] * s[1]) / denom  # scale * cos
    b = (d[0] * s[1] - d[1] * s[0]) / denom  # scale * sin
    m = torch.stack([torch.stack([a, -b]), torch.stack([b, a])])
    t = src[0] - m @ dst[0]
    return torch.cat([m, t[:, None]], dim=1)


def _affine(dst: Tensor, src: Tensor) -> Tensor:
    """2x3 least-squares affine taking dst (N,2) onto src (N,2), N >= 3."""
    ones = torch.ones(dst.shape[0], 1, dtype=dst.dtype)
    solution = torch.linalg.lstsq(torch.cat([dst, ones], dim=1), src).solution  # (3, 2)
    return solution.T


def part_transforms(source: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(18,2) source and target keypoints in normalised [-1, 1] coordinates -> (P,2,3) transforms
    (target -> source) and (P,) bool: which parts have all their keypoints in both poses."""
    mats, ok = [], []
    for _, index in PARTS:
        idx = list(index)
        s, t = source[idx], target[idx]
        present = ((s > -2) & (t > -2)).all(dim=1)
        need = 2 if len(idx) == 2 else 3
        if int(present.sum()) < need:
            mats.append(torch.eye(2, 3, dtype=source.dtype))
            ok.append(False)
            continue
        s, t = s[present], t[present]
        mats.append(_similarity(t, s) if len(idx) == 2 else _affine(t, s))
        ok.append(True)
    return torch.stack(mats), torch.tensor(ok)


def _segment_mask(points: Tensor, index: tuple[int, ...], h: int, w: int, width: float) -> Tensor:
    """Soft mask (H,W) around a part's segments in the target pose (normalised coordinates)."""
    ys = torch.linspace(-1, 1, h)[:, None]
    xs = torch.linspace(-1, 1, w)[None, :]
    pts = points[list(index)]
    if len(index) > 2:  # a blob around the part's centroid, as wide as its spread
        c = pts.mean(0)
        r = (pts - c).norm(dim=1).max().clamp(min=width)
        return torch.exp(-((xs - c[0]) ** 2 + (ys - c[1]) ** 2) / (2 * (0.7 * r) ** 2))
    a, b = pts[0], pts[1]
    d = b - a
    t = (((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / (d * d).sum().clamp(min=1e-6)).clamp(0, 1)
    dist2 = (xs - (a[0] + t * d[0])) ** 2 + (ys - (a[1] + t * d[1])) ** 2
    return torch.exp(-dist2 / (2 * width**2))


def warp_parts(image: Tensor, source: Tensor, target: Tensor, width: float = 0.08) -> Tensor:
    """(B,3,H,W) source images, (B,18,2) source and target keypoints in normalised coordinates
    (missing: -2 or less) -> (B, 3 + P, H, W): the part-blended warped source, and P part masks."""
    b, _, h, w = image.shape
    out = []
    for i in range(b):
        mats, ok = part_transforms(source[i].float().cpu(), target[i].float().cpu())
        grid = F.affine_grid(mats.to(image), [len(PARTS), 3, h, w], align_corners=False)
        warped = F.grid_sample(image[i : i + 1].expand(len(PARTS), -1, -1, -1), grid, align_corners=False)
        masks = torch.stack(
            [
                _segment_mask(target[i].float().cpu(), index, h, w, width) if good else torch.zeros(h, w)
                for (_, index), good in zip(PARTS, ok.tolist())
            ]
        ).to(image)
        weight = masks / masks.sum(0, keepdim=True).clamp(min=1e-3)
        blended = (warped * weight[:, None]).sum(0) * masks.max(0).values.clamp(max=1)
        out.append(torch.cat([blended, masks]))
    return torch.stack(out)


def normalise(points: Tensor, width: int, height: int) -> Tensor:
    """Pixel keypoints (..., 18, 2), -1 missing -> [-1, 1] grid coordinates, missing -> -3."""
    scale = torch.tensor([width, height], dtype=torch.float32)
    out = (points.float() + 0.5) / scale * 2 - 1
    return torch.where((points < 0).any(-1, keepdim=True), torch.full_like(out, -3.0), out)
