"""`i2i eval` for text2img: does the image show what the prompt says?

A small attribute classifier (a PROXY judge, not a human) is trained on the real training images
of the demo birds, whose attributes are known exactly, and then scores images generated for the
held-out birds' attributes. Three figures make the number readable:

- model: images generated from prompts naming each held-out bird's body colour and beak length;
- ceiling: the classifier on the real held-out images (how good the judge itself is);
- floor: images generated from shuffled prompts, scored against the original attributes (what a
  model that ignores the text would get).

The classifier is cached under the user cache folder, keyed by the data's attribute file, so
repeated evaluations of many checkpoints share one judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.errors import InputError
from i2i.metrics.batches import generate_in_chunks
from i2i.metrics.judges import cache_dir, cached_judge, digest, fit_judge, judge_input
from i2i.metrics.result import evaluation

HEADS = {
    "body": ("red", "blue", "yellow", "green", "black", "white", "brown", "orange", "grey"),
    "beak_length": ("short", "long"),
}
JUDGE_SIZE = 64
PROMPT = "a {body} bird with a {beak_length} beak"


class AttributeClassifier(nn.Module):
    """Small CNN with one linear head per attribute, on 64x64 images in [-1, 1]."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for out in (width, width * 2, width * 4, width * 4):
            layers += [nn.Conv2d(c, out, 3, 2, 1), nn.BatchNorm2d(out), nn.ReLU()]
            c = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = nn.ModuleDict({k: nn.Linear(c, len(v)) for k, v in HEADS.items()})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        f = self.body(x)
        return {k: head(f) for k, head in self.heads.items()}


def _labels(attrs: Sequence[dict[str, Any]]) -> dict[str, Tensor]:
    try:
        return {k: torch.tensor([HEADS[k].index(a[k]) for a in attrs]) for k in HEADS}
    except (KeyError, ValueError) as exc:
        raise InputError("attributes.jsonl", f"unknown attribute value ({exc})") from None


def _attributes(dataset: Any, data: Path) -> list[dict[str, Any]]:
    attrs = dataset.attributes()
    if attrs is None:
        raise InputError(
            data, "no attributes.jsonl: attribute accuracy needs labelled data (i2i data demo text2img)"
        )
    return attrs


def _real_images(dataset: Any) -> Tensor:
    return judge_input(torch.stack([dataset[i]["target"] for i in range(len(dataset))]), JUDGE_SIZE)


def _cache_path(data: Path) -> Path:
    key = digest([(data / "attributes.jsonl").read_bytes()])
    return cache_dir() / "text2img" / f"attribute-judge-{key}.safetensors"


def train_classifier(
    images: Tensor, labels: dict[str, Tensor], model: AttributeClassifier, steps: int = 300, seed: int = 0
) -> AttributeClassifier:
    """Fit the judge on real images (flip augmentation: captions never say left or right)."""

    def loss(step: int, rng: Any) -> Tensor:
        idx = torch.tensor([rng.randrange(images.shape[0]) for _ in range(32)])
        out = model(images[idx].flip(-1) if step % 2 else images[idx])
        return sum(F.cross_entropy(out[k], labels[k][idx]) for k in HEADS)

    return fit_judge(model, steps, loss, seed)


def judge(data: Path, config_data: Any) -> AttributeClassifier:
    """The cached judge for this data set, trained on its training split on first use."""
    from i2i_text2img.data import CaptionDataset

    def train(model: AttributeClassifier) -> None:
        dataset = CaptionDataset(data, config_data, "train", False)
        labels = _labels(_attributes(dataset, data))
        train_classifier(_real_images(dataset), labels, model)

    return cached_judge(_cache_path(data), AttributeClassifier, train)


@torch.no_grad()
def accuracy(model: AttributeClassifier, images: Tensor, labels: dict[str, Tensor]) -> dict[str, float]:
    out = {k: [] for k in HEADS}
    for start in range(0, images.shape[0], 64):
        pred = model(judge_input(images[start : start + 64], JUDGE_SIZE))
        for k in HEADS:
            out[k].append(pred[k].argmax(1))
    return {k: round(float((torch.cat(v) == labels[k]).float().mean()), 4) for k, v in out.items()}


def evaluate(pipe: Any, data: Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    from i2i_text2img.data import CaptionDataset

    data = Path(data)
    test = CaptionDataset(data, pipe.config.data, split, False)
    n = len(test) if limit is None else min(limit, len(test))
    attrs = _attributes(test, data)[:n]
    labels = _labels(attrs)
    model = judge(data, pipe.config.data)
    prompts = [PROMPT.format(**a) for a in attrs]
    shuffled = prompts[1:] + prompts[:1]  # every bird gets another bird's prompt
    real = _real_images(test)[:n]
    generated = accuracy(model, generate_in_chunks(pipe, {"caption": prompts}, 32), labels)
    floor = accuracy(model, generate_in_chunks(pipe, {"caption": shuffled}, 32), labels)
    ceiling = accuracy(model, real, labels)
    metrics = {
        "prompt_template": PROMPT,
        "attribute_accuracy": {
            "model": generated,
            "real_images_ceiling": ceiling,
            "shuffled_prompts_floor": floor,
        },
    }
    notes = (
        "accuracy of a proxy attribute classifier (trained on real demo training images) on images "
        "generated for held-out birds' attributes; chance is 1/9 for body colour, 1/2 for beak length"
    )
    return evaluation(pipe, data, split, n, metrics, notes)
