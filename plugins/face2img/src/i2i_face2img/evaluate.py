"""`i2i eval` for face2img, offline, with dlib as the judge (not the training source of anything):

- Self-reenactment on held-out clips (portrait = a clip's first frame, driving = its other frames):
  ground truth exists, so L1 / PSNR / SSIM against the real frame.
- Expression fidelity: dlib re-detects the 68 landmarks on the output; normalised mean error
  (by the outer-eye-corner distance) against the driving landmarks the model was given.
- Identity: Euclidean distance of dlib's 128-d face descriptors between portrait and output
  (dlib's same-person threshold is 0.6).
- Cross-identity video: one clip's portrait driven by another clip's landmarks (retargeted,
  relative motion); temporal flicker = mean |frame t - frame t-1| of the output over the same for
  the driving video (1: flickers as much as the input moves).
- A real portrait (scikit-image's astronaut photo, a real person) driven by a held-out clip: the
  same identity, expression and flicker figures on a face unlike any training face.

References beside every number: `warp_only` (the thin-plate-spline warp alone) and `portrait_copy`
(the portrait unchanged: the identity ceiling and the expression floor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from i2i.errors import InputError
from i2i.metrics.batches import generate_in_chunks, stack_samples
from i2i.metrics.paired import image_scores, mean_scores, to_uint8
from i2i.metrics.result import evaluation
from i2i.metrics.video import flicker
from i2i_face2img.data import FaceClips, image_tensor, sketch_tensor
from i2i_face2img.landmarks import normalised_mean_error, retarget
from i2i_face2img.warp import warp_to

JUDGE_SIZE = 256  # dlib's detector and recogniser want faces far larger than 64 pixels


class Judge:
    """dlib landmarks and descriptors on images upscaled to JUDGE_SIZE, in the images' own pixels."""

    def __init__(self) -> None:
        from i2i_face2img.detect import DlibLandmarks

        self.dlib = DlibLandmarks()

    def _big(self, image: torch.Tensor) -> tuple[np.ndarray, float]:
        rgb = to_uint8(image)
        scale = JUDGE_SIZE / rgb.shape[0]
        return np.asarray(
            Image.fromarray(rgb).resize((JUDGE_SIZE, JUDGE_SIZE), Image.Resampling.BICUBIC)
        ), scale

    def landmarks(self, image: torch.Tensor, expected: np.ndarray) -> tuple[np.ndarray, bool]:
        """dlib's landmarks of the face, and whether its detector found the face; where it does not
        (drawn demo faces), the shape predictor runs in the box of the `expected` landmarks: the
        box gives position and size only, the expression is dlib's own reading."""
        big, scale = self._big(image)
        found = self.dlib(big)
        detected = found is not None
        if found is None:
            p = (np.asarray(expected) + 0.5) * scale - 0.5
            found = self.dlib.in_box(big, (*p.min(0), *p.max(0)))
        return (found + 0.5) / scale - 0.5, detected

    def descriptor(self, image: torch.Tensor, points: np.ndarray) -> np.ndarray | None:
        big, scale = self._big(image)
        return self.dlib.descriptor(big, (np.asarray(points) + 0.5) * scale - 0.5)


def _judged(
    judge: Judge,
    images: torch.Tensor,
    driving: np.ndarray,
    portrait: torch.Tensor,
    portrait_points: np.ndarray,
) -> dict[str, float]:
    """Expression NME, detection rate and identity distance of a set of images."""
    from i2i_face2img.detect import face_distance

    own = judge.descriptor(portrait, portrait_points)
    errors, distances = [], []
    found_faces = 0
    for image, points in zip(images, driving):
        found, detected = judge.landmarks(image, points)
        found_faces += detected
        errors.append(normalised_mean_error(found, points))
        desc = judge.descriptor(image, points)
        if desc is not None and own is not None:
            distances.append(face_distance(own, desc))
    return {
        "landmark_nme": round(float(np.mean(errors)), 4) if errors else float("nan"),
        "faces_detected": round(found_faces / len(images), 3),
        "identity_distance": round(float(np.mean(distances)), 4) if distances else float("nan"),
    }


def _generate(pipe: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return generate_in_chunks(pipe, batch, 16, seed_per_chunk=False).float().clamp(-1, 1)


def _drive(
    pipe: Any, portrait: torch.Tensor, points: np.ndarray, sequence: np.ndarray
) -> dict[str, torch.Tensor]:
    """A batch that drives one portrait with a landmark sequence, retargeted relative to its first frame."""
    size = portrait.shape[-1]
    target = retarget(sequence, points, sequence[0])
    n = len(sequence)
    return {
        "portrait": portrait[None].expand(n, -1, -1, -1),
        "portrait_points": torch.from_numpy(np.repeat(points[None], n, 0).astype(np.float32)),
        "driving_points": torch.from_numpy(target.astype(np.float32)),
        "sketch": torch.stack([sketch_tensor(p, size) for p in target]),
    }


def _video_scores(
    pipe: Any,
    judge: Judge,
    portrait: torch.Tensor,
    points: np.ndarray,
    clip_frames: torch.Tensor,
    sequence: np.ndarray,
) -> dict[str, Any]:
    batch = _drive(pipe, portrait, points, sequence)
    candidates = {
        "model": _generate(pipe, batch),
        "warp_only": warp_to(batch["portrait"], batch["portrait_points"], batch["driving_points"]).clamp(
            -1, 1
        ),
        "portrait_copy": batch["portrait"],
    }
    driving = batch["driving_points"].numpy()
    return {
        name: {**_judged(judge, images, driving, portrait, points), "flicker": flicker(images, clip_frames)}
        for name, images in candidates.items()
    }


def real_portrait(size: int) -> tuple[torch.Tensor, np.ndarray]:
    """scikit-image's astronaut photo cropped square around her face (dlib), at `size`."""
    import skimage.data

    from i2i_face2img.detect import DlibLandmarks

    photo = skimage.data.astronaut()
    found = DlibLandmarks()(photo)
    if found is None:  # pragma: no cover - dlib finds her in every version tested
        raise InputError("skimage.data.astronaut", "no face found")
    centre = (found.min(0) + found.max(0)) / 2
    side = 1.6 * float((found.max(0) - found.min(0)).max())
    left, top = centre - side / 2
    crop = Image.fromarray(photo).crop((round(left), round(top), round(left + side), round(top + side)))
    scale = size / crop.size[0]
    points = ((found - np.array([round(left), round(top)]) + 0.5) * scale - 0.5).astype(np.float32)
    return image_tensor(crop.resize((size, size), Image.Resampling.BICUBIC)), points


def evaluate(pipe: Any, data: Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    data = Path(data)
    cfg = pipe.config.data
    test = FaceClips(data, cfg, split, False)
    n = len(test) if limit is None else min(limit, len(test))
    batch = stack_samples(test, n)
    judge = Judge()
    fake = _generate(pipe, batch)
    warp = warp_to(batch["portrait"], batch["portrait_points"], batch["driving_points"]).clamp(-1, 1)
    driving = batch["driving_points"].numpy()
    self_reenactment: dict[str, Any] = {}
    for name, images in {"model": fake, "warp_only": warp, "portrait_copy": batch["portrait"]}.items():
        paired = mean_scores([image_scores(images[i], batch["target"][i]) for i in range(n)])
        judged = [
            _judged(
                judge,
                images[i : i + 1],
                driving[i : i + 1],
                batch["portrait"][i],
                batch["portrait_points"][i].numpy(),
            )
            for i in range(n)
        ]
        self_reenactment[name] = {
            **paired,
            **{k: round(float(np.nanmean([j[k] for j in judged])), 4) for k in judged[0]},
        }
    real = {
        "landmark_nme_of_dlib_on_real_frames": _judged(
            judge, batch["target"], driving, batch["target"][0], driving[0]
        )["landmark_nme"]
    }

    # cross-identity and real-portrait video: the first test clip's portrait and the astronaut,
    # each driven by the last test clip's landmarks
    size = int(cfg["size"])
    driver = test.clips[-1]
    frames = [test._frame(driver, i, False) for i in driver.valid]
    clip_frames = torch.stack([f[0] for f in frames])
    sequence = np.stack([f[1] for f in frames])
    first = test.clips[0]
    portrait, points = test._frame(first, first.valid[0], False)
    astronaut, astronaut_points = real_portrait(size)
    metrics = {
        "self_reenactment": self_reenactment,
        "judge_ceiling": real,
        "cross_identity_video": _video_scores(pipe, judge, portrait, points, clip_frames, sequence),
        "real_portrait_video": _video_scores(pipe, judge, astronaut, astronaut_points, clip_frames, sequence),
    }
    notes = (
        "self_reenactment: a held-out clip's first frame driven by its other frames (ground truth exists): "
        "l1 in [0,1], psnr dB, ssim on 8-bit RGB; landmark_nme: dlib's landmarks on the output vs the "
        "driving landmarks, over the outer-eye-corner distance (dlib's shape predictor in the face box "
        "where its detector misses the face); faces_detected: share of outputs where dlib's detector "
        "finds a face; identity_distance: dlib 128-d descriptor distance portrait vs output (same person "
        "< 0.6); flicker: consecutive-frame change of the output over that of the driving video; "
        "real_portrait_video: scikit-image's astronaut photo (a real person) driven by a held-out clip; "
        "references: warp_only (the thin-plate-spline warp alone), portrait_copy (the portrait unchanged)"
    )
    return evaluation(pipe, data, split, n, metrics, notes)
