"""`i2i eval` for seg2img: label fidelity, diversity and class colour statistics, offline.

- Label fidelity (the pix2pix / SPADE protocol): a segmenter segments the generated photos and
  its output is scored against the input maps as mIoU. The segmenter is a small fully
  convolutional network trained here on the real training photos: a PROXY for the DRN/DeepLab
  networks papers use, labelled as such. Its mIoU on the real held-out photos is the ceiling.
- Diversity: mean pairwise L1 distance (pixel values in [0, 1]) between samples drawn for the same
  map with different seeds; 0 means one photo per map whatever the seed.
- Colour statistics: per class, the mean RGB of generated pixels against that of real pixels
  (0-255), averaged over classes: does each class look like itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from i2i.errors import InputError
from i2i.metrics.batches import generate_in_chunks, stack_samples
from i2i.metrics.fcn import ProxyFCN
from i2i.metrics.judges import cache_dir, cached_judge, digest, fit_judge
from i2i.metrics.result import evaluation

SAMPLES_FOR_DIVERSITY = 4
SEGMENTER_STEPS = 400


class Segmenter(ProxyFCN):
    """Per-pixel class logits from a photo."""

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__(num_classes, width)


def _stack(dataset: Any, n: int) -> dict[str, Tensor]:
    return stack_samples(dataset, n, ("labels", "target", "instances"))


def train_segmenter(
    model: Segmenter, images: Tensor, labels: Tensor, ignore: int, steps: int, seed: int = 0
) -> None:
    """Cross-entropy on real photos with flips; the ignore index is ignored."""
    n = images.shape[0]

    def loss(step: int, rng: Any) -> Tensor:
        idx = torch.tensor([rng.randrange(n) for _ in range(min(16, n))])
        x, y = images[idx], labels[idx]
        if step % 2:
            x, y = x.flip(-1), y.flip(-1)
        return F.cross_entropy(model(x), y, ignore_index=ignore)

    fit_judge(model, steps, loss, seed)


def segmenter_for(data: Path, config_data: Any, num_classes: int, ignore: int) -> Segmenter:
    """The cached proxy segmenter of this data set (trained on its training split on first use)."""
    from i2i_seg2img.data import SegDataset

    train = SegDataset(data, config_data, "train", False)
    key = digest(
        [
            (data / "classes.json").read_bytes(),
            *(f"{p.name}:{p.stat().st_size}" for item in train.items for p in item[:2]),
            f"{config_data['load_size']}/{config_data['crop_size']}/{SEGMENTER_STEPS}",
        ]
    )

    def fit(model: Segmenter) -> None:
        real = _stack(train, len(train))
        train_segmenter(model, real["target"], real["labels"], ignore, SEGMENTER_STEPS)

    return cached_judge(
        cache_dir() / "seg2img" / f"segmenter-{key}.safetensors", lambda: Segmenter(num_classes), fit
    )


def confusion(pred: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    valid = labels < num_classes
    index = labels[valid] * num_classes + pred[valid]
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def mean_iou(conf: Tensor) -> float:
    """Mean IoU over the classes present in the ground truth or the prediction."""
    inter = conf.diag().double()
    union = conf.sum(0).double() + conf.sum(1).double() - inter
    present = union > 0
    return float((inter[present] / union[present]).mean()) if bool(present.any()) else 0.0


@torch.no_grad()
def _miou(model: Segmenter, images: Tensor, labels: Tensor, num_classes: int) -> float:
    conf = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for start in range(0, images.shape[0], 16):
        pred = model(images[start : start + 16]).argmax(1)
        conf += confusion(pred, labels[start : start + 16], num_classes)
    return mean_iou(conf)


def _class_means(images: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(K, 3) mean 0-255 colour per class (NaN for absent classes)."""
    pixels = ((images + 1) * 127.5).permute(0, 2, 3, 1).reshape(-1, 3)
    flat = labels.reshape(-1)
    out = torch.full((num_classes, 3), float("nan"))
    for k in range(num_classes):
        mask = flat == k
        if bool(mask.any()):
            out[k] = pixels[mask].mean(0)
    return out


def _generate(pipe: Any, batch: dict[str, Tensor], seed: int, num_samples: int = 1) -> Tensor:
    return generate_in_chunks(pipe, batch, 8, seed, num_samples)


def diversity(samples: Tensor, k: int) -> float:
    """Mean pairwise L1 (in [0, 1] pixel units) among each map's k samples (consecutive rows)."""
    groups = samples.reshape(-1, k, *samples.shape[1:])
    total, pairs = 0.0, 0
    for i in range(k):
        for j in range(i + 1, k):
            total += float((groups[:, i] - groups[:, j]).abs().mean()) / 2
            pairs += 1
    return total / max(pairs, 1)


def evaluate(pipe: Any, data: Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    from i2i_seg2img.data import SegDataset

    data = Path(data)
    cfg = pipe.config.data
    num_classes = int(cfg["num_classes"])
    test = SegDataset(data, cfg, split, False)
    n = len(test) if limit is None else min(limit, len(test))
    if n < 1:
        raise InputError(data, f"no {split} samples")
    batch = _stack(test, n)
    ignore = test.classes.ignore_index
    model = segmenter_for(data, cfg, num_classes, ignore)
    fake = _generate(pipe, batch, seed=0)
    shuffled = {k: v.roll(1, dims=0) for k, v in batch.items()}
    many = _generate(pipe, batch, seed=1, num_samples=SAMPLES_FOR_DIVERSITY)
    real_means = _class_means(batch["target"], batch["labels"], num_classes)
    fake_means = _class_means(fake, batch["labels"], num_classes)
    present = ~real_means.isnan().any(1)
    metrics = {
        "miou": {
            "model": round(_miou(model, fake, batch["labels"], num_classes), 4),
            "real_images_ceiling": round(_miou(model, batch["target"], batch["labels"], num_classes), 4),
            "other_maps_floor": round(
                _miou(model, _generate(pipe, shuffled, seed=0), batch["labels"], num_classes), 4
            ),
        },
        "diversity_l1": round(diversity(many, SAMPLES_FOR_DIVERSITY), 4),
        "class_colour_error": round(float((fake_means - real_means)[present].abs().mean()), 2),
    }
    notes = (
        "mIoU of a PROXY segmenter (small FCN trained on the real training photos) on generated photos "
        "against the input maps; floor: photos generated for other maps; diversity: mean pairwise L1 "
        f"(0-1 pixels) of {SAMPLES_FOR_DIVERSITY} samples per map; class colour error: mean |class "
        "mean RGB (0-255) generated - real|"
    )
    return evaluation(pipe, data, split, n, metrics, notes)
