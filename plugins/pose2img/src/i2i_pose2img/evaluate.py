"""`i2i eval` for pose2img: the generated person against the paired ground truth, offline.

Pose transfer has ground truth (the same person photographed in the target pose), so it is scored
the way pose-transfer papers do, with a reference beside every number:

- SSIM, PSNR and L1 on the whole image, and masked to the person (mask-SSIM as in PATN: both
  images multiplied by the target person's part masks, which come from the target keypoints).
- Garment colour: mean RGB (0-255) of the torso region, generated against real; it moves when the
  model paints the wrong clothes even where SSIM hardly does.
- Keypoint fidelity: a keypoint detector that is not the training source re-detects the 18
  keypoints on the output, scored against the target pose (PCK at 10% of the image height, and mean
  error in image heights). The detector is a small FCN with one heatmap per keypoint trained here on
  the real training photos: a PROXY for the OpenPose detector papers use, labelled as such. Its
  score on the real target photos is the ceiling.

References: `warp_prior` (the part-wise affine warp of the source alone, what the network starts
from) and `source_copy` (the source photo unchanged: right person, wrong pose).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from i2i.errors import InputError
from i2i.metrics.batches import generate_in_chunks, stack_samples
from i2i.metrics.fcn import ProxyFCN
from i2i.metrics.judges import fit_judge
from i2i.metrics.paired import image_scores, mean_scores
from i2i.metrics.result import evaluation
from i2i_pose2img.keypoints import FLIP, KEYPOINTS
from i2i_pose2img.warp import PARTS, normalise, warp_parts

DETECTOR_STEPS = 600
PCK_THRESHOLD = 0.05  # of the image height
PERSON_MASK = 0.2  # part-mask level that counts as the person
TORSO = [name for name, _ in PARTS].index("torso")


class KeypointDetector(ProxyFCN):
    """One heatmap logit per COCO-18 keypoint; the argmax is the detection."""

    def __init__(self, width: int = 32) -> None:
        super().__init__(len(KEYPOINTS), width)


def _pixel_index(points: Tensor, w: int, h: int) -> Tensor:
    """(B,18,2) pixel points -> (B,18) flat pixel index, -100 (ignored) where missing."""
    xy = points.round().long()
    x, y = xy[..., 0].clamp(0, w - 1), xy[..., 1].clamp(0, h - 1)
    return torch.where((points < 0).any(-1), torch.full_like(x, -100), y * w + x)


def train_detector(
    model: KeypointDetector, images: Tensor, points: Tensor, steps: int, seed: int = 0
) -> None:
    """Softmax over pixels per keypoint, cross-entropy at the true pixel; mirrored half the time."""
    n, (h, w) = images.shape[0], images.shape[-2:]
    mirrored = points.clone()
    mirrored[..., 0] = torch.where((points >= 0).all(-1), w - 1 - points[..., 0], points[..., 0])
    mirrored = mirrored[:, list(FLIP)]

    def loss(step: int, rng: random.Random) -> Tensor:
        idx = torch.tensor([rng.randrange(n) for _ in range(min(32, n))])
        x, p = (images[idx], points[idx]) if step % 2 == 0 else (images[idx].flip(-1), mirrored[idx])
        logits = model(x).flatten(2)  # (B, 18, H*W)
        return F.cross_entropy(logits.transpose(1, 2), _pixel_index(p, w, h), ignore_index=-100)

    fit_judge(model, steps, loss, seed)


@torch.no_grad()
def detect(model: KeypointDetector, images: Tensor) -> Tensor:
    """(B,3,H,W) -> (B,18,2) pixel (x, y) of each keypoint's strongest response."""
    w = images.shape[-1]
    flat = torch.cat([model(images[i : i + 32]).flatten(2).argmax(-1) for i in range(0, len(images), 32)])
    return torch.stack([flat % w, flat // w], -1).float()


def keypoint_scores(found: Tensor, truth: Tensor, height: int) -> dict[str, float]:
    """PCK and mean error (in image heights) over the keypoints present in `truth`."""
    present = (truth >= 0).all(-1)
    error = (found - truth).norm(dim=-1)[present] / height
    return {
        "pck": round(float((error < PCK_THRESHOLD).float().mean()), 4),
        "mean_error": round(float(error.mean()), 4),
    }


def _real_people(data: Path, config_data: Any) -> tuple[Tensor, Tensor, list[str]]:
    """Every distinct training photo at the working size with its keypoints."""
    from i2i_pose2img.data import PoseDataset

    train = PoseDataset(data, config_data, "train", False)
    names = sorted({name for pair in train.pairs for name in pair})
    people = [train._person(name, False) for name in names]
    return torch.stack([p[0] for p in people]), torch.stack([p[2] for p in people]), names


def detector_for(data: Path, config_data: Any) -> KeypointDetector:
    """The cached proxy keypoint detector of this data set (trained on first use)."""
    from i2i.metrics.judges import cache_dir, cached_judge, digest

    images, points, names = _real_people(data, config_data)
    key = digest(
        [
            *(f"{n}:{(data / 'train' / n).stat().st_size}" for n in names),
            points.numpy().tobytes(),
            f"{tuple(images.shape)}/{DETECTOR_STEPS}/{config_data['sigma']}",
        ]
    )
    return cached_judge(
        cache_dir() / "pose2img" / f"keypoints-{key}.safetensors",
        KeypointDetector,
        lambda model: train_detector(model, images, points, DETECTOR_STEPS),
    )


def _torso_colour(images: Tensor, torso: Tensor) -> Tensor:
    """(B, 3) mean 0-255 colour inside each image's torso mask."""
    weight = torso[:, None]
    return ((images + 1) * 127.5 * weight).sum((2, 3)) / weight.sum((2, 3)).clamp(min=1e-6)


def _scores(images: Tensor, batch: dict[str, Tensor], person: Tensor) -> dict[str, float]:
    rows = [image_scores(images[i], batch["target"][i]) for i in range(len(images))]
    masked = [image_scores(images[i], batch["target"][i], person[i]) for i in range(len(images))]
    return {**mean_scores(rows), **{f"masked_{k}": v for k, v in mean_scores(masked).items()}}


def evaluate(pipe: Any, data: Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    from i2i_pose2img.data import PoseDataset

    data = Path(data)
    cfg = pipe.config.data
    test = PoseDataset(data, cfg, split, False)
    n = len(test) if limit is None else min(limit, len(test))
    if n < 1:
        raise InputError(data, f"no {split} pairs")
    batch = stack_samples(test, n)
    h, w = batch["target"].shape[-2:]
    prior = warp_parts(
        batch["source"],
        normalise(batch["source_points"], w, h),
        normalise(batch["target_points"], w, h),
        float(pipe.config.model.conditioner.part_width),
    )
    masks = prior[:, 3:]
    person = masks.max(1).values > PERSON_MASK
    torso = (masks[:, TORSO] > 0.5).float()
    candidates = {
        "model": generate_in_chunks(pipe, batch, 16).float().clamp(-1, 1),
        "warp_prior": prior[:, :3].clamp(-1, 1),
        "source_copy": batch["source"],
    }
    detector = detector_for(data, cfg)
    real_colour = _torso_colour(batch["target"], torso)
    metrics: dict[str, Any] = {}
    for name, images in candidates.items():
        metrics[name] = {
            **_scores(images, batch, person),
            "torso_colour_error": round(float((_torso_colour(images, torso) - real_colour).abs().mean()), 2),
            "keypoints": keypoint_scores(detect(detector, images), batch["target_points"], h),
        }
    metrics["real_target_ceiling"] = {
        "keypoints": keypoint_scores(detect(detector, batch["target"]), batch["target_points"], h)
    }
    notes = (
        "l1 in [0,1], psnr dB, ssim on 8-bit RGB; masked_*: both images times the target person mask "
        "(part masks from the target keypoints, as PATN's mask-SSIM), l1 over the mask; torso colour "
        "error: |mean torso RGB (0-255) generated - real|; keypoints: a PROXY detector (small FCN "
        f"trained on the real training photos) re-detects them, PCK at {PCK_THRESHOLD} of the image "
        "height and mean error in image heights; references: warp_prior (the part-wise affine warp "
        "alone), source_copy (the unchanged source photo), real_target_ceiling (the detector on real photos)"
    )
    return evaluation(pipe, data, split, n, metrics, notes)
