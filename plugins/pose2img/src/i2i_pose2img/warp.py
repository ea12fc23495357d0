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

import numpy as np
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


def _similarity(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """2x3 similarity (rotation, scale, translation) taking dst (2,2) points onto src (2,2)."""
    d, s = dst[1] - dst[0], src[1] - src[0]
    denom = max(float((d * d).sum()), 1e-6)
    a = (d[0] * s[0] + d[1] * s[1]) / denom  # scale * cos
    b = (d[0] * s[1] - d[1] * s[0]) / denom  # scale * sin
    m = np.array([[a, -b], [b, a]], np.float32)
    return np.concatenate([m, (src[0] - m @ dst[0])[:, None]], axis=1)


def _affine(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """2x3 least-squares affine taking dst (N,2) onto src (N,2), N >= 3."""
    design = np.concatenate([dst, np.ones((dst.shape[0], 1), np.float32)], axis=1)
    return np.linalg.lstsq(design, src, rcond=None)[0].T.astype(np.float32)


def part_transforms(source: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(18,2) source and target keypoints in normalised [-1, 1] coordinates -> (P,2,3) transforms
    (target -> source) and (P,) bool: which parts have all their keypoints in both poses.
    numpy: a few tiny solves per sample, where torch's per-op overhead dominates."""
    src_all, tgt_all = source.numpy(), target.numpy()
    mats, ok = [], []
    for _, index in PARTS:
        idx = list(index)
        s, t = src_all[idx], tgt_all[idx]
        present = ((s > -2) & (t > -2)).all(axis=1)
        need = 2 if len(idx) == 2 else 3
        if int(present.sum()) < need:
            mats.append(np.eye(2, 3, dtype=np.float32))
            ok.append(False)
            continue
        s, t = s[present], t[present]
        mats.append(_similarity(t, s) if len(idx) == 2 else _affine(t, s))
        ok.append(True)
    return torch.from_numpy(np.stack(mats)), torch.tensor(ok)


def part_masks(target: Tensor, ok: Tensor, h: int, w: int, width: float) -> Tensor:
    """(P, H, W) soft masks of the parts in the target pose (normalised coordinates): a Gaussian
    tube around each limb's segment, a blob as wide as their spread for head and torso; zero for
    parts left out (`ok` false). numpy: small per-sample maps, where torch threads only cost."""
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    points = target.numpy()
    masks = np.zeros((len(PARTS), h, w), np.float32)
    for k, ((_, index), good) in enumerate(zip(PARTS, ok.tolist())):
        pts = points[list(index)]
        if not good:
            continue
        if len(index) > 2:
            c = pts[(pts > -2).all(axis=1)].mean(0)
            r = max(float(np.linalg.norm(pts - c, axis=1).max()), width)
            masks[k] = np.exp(-((xs - c[0]) ** 2 + (ys - c[1]) ** 2) / (2 * (0.7 * r) ** 2))
        else:
            a, d = pts[0], pts[1] - pts[0]
            t = np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / max(float((d * d).sum()), 1e-6), 0, 1)
            masks[k] = np.exp(
                -((xs - (a[0] + t * d[0])) ** 2 + (ys - (a[1] + t * d[1])) ** 2) / (2 * width**2)
            )
    return torch.from_numpy(masks)


def warp_parts(image: Tensor, source: Tensor, target: Tensor, width: float = 0.08) -> Tensor:
    """(B,3,H,W) source images, (B,18,2) source and target keypoints in normalised coordinates
    (missing: -2 or less) -> (B, 3 + P, H, W): the part-blended warped source, and P part masks."""
    b, _, h, w = image.shape
    p = len(PARTS)
    fitted = [part_transforms(source[i].float().cpu(), target[i].float().cpu()) for i in range(b)]
    mats = torch.cat([m for m, _ in fitted]).to(image)  # (B*P, 2, 3)
    grid = F.affine_grid(mats, [b * p, 3, h, w], align_corners=False)
    warped = F.grid_sample(image.repeat_interleave(p, dim=0), grid, align_corners=False).view(b, p, 3, h, w)
    masks = torch.stack(
        [part_masks(target[i].float().cpu(), ok, h, w, width) for i, (_, ok) in enumerate(fitted)]
    )
    masks = masks.to(image)  # (B, P, H, W)
    weight = masks / masks.sum(1, keepdim=True).clamp(min=1e-3)
    blended = (warped * weight[:, :, None]).sum(1) * masks.max(1).values.clamp(max=1)[:, None]
    return torch.cat([blended, masks], dim=1)


def normalise(points: Tensor, width: int, height: int) -> Tensor:
    """Pixel keypoints (..., 18, 2), -1 missing -> [-1, 1] grid coordinates, missing -> -3."""
    scale = torch.tensor([width, height], dtype=torch.float32)
    out = (points.float() + 0.5) / scale * 2 - 1
    return torch.where((points < 0).any(-1, keepdim=True), torch.full_like(out, -3.0), out)
