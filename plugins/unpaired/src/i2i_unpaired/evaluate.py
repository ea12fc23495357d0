"""`i2i eval` for unpaired translation: cycle reconstruction and a proxy domain judge.

Unpaired data has no ground truth for a translation, so two things are measured on the held-out
images of each domain:

- cycle reconstruction: L1 (on [0, 1]) between an image and its round trip, A -> B -> A and
  B -> A -> B. Lower is better; 0 is reachable by a model that changes nothing, so it is read
  together with the next score and with `change` (how far the translation moved the image);
- domain score: a small CNN (the judge) trained once on the real training images of both domains
  (trainA vs trainB) and cached like the other plugins' judges (`i2i.metrics.judges`) says which
  domain each translated image looks like: the fraction of A -> B images it calls B (and of
  B -> A it calls A). The floor is the same fraction for the untranslated inputs (a model that
  changes nothing), the ceiling the judge's accuracy on real held-out images of the target domain.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.errors import InputError
from i2i.keys import DOMAIN_A, DOMAIN_B, INPUT
from i2i.metrics.batches import generate_in_chunks
from i2i.metrics.judges import fit_judge, judge_input
from i2i_unpaired.data import IMAGE, UnpairedDataset
from i2i_unpaired.nets import A_TO_B, B_TO_A, DIRECTION

JUDGE_SIZE = 32
JUDGE_VERSION = "domain-judge/3"
OTHER = 2  # the judge's third class: images of neither domain (noise, blur, corrupted photos)
JUDGE_MAX_IMAGES = 1000  # per domain
JUDGE_STEPS = 300
BATCH = 16


class DomainJudge(nn.Module):
    """A tiny CNN: (B,3,32,32) in [-1, 1] -> logits of (domain A, domain B, neither).

    The third class is trained on images of neither domain (smooth noise, blurred or noisy real
    photos), so an image only scores as B if it looks like B, not merely "unlike A" (a judge of
    two classes calls any dark smudge from an untrained generator "night")."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in (16, 32, 64):
            layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels = width
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(judge_input(x.float(), JUDGE_SIZE))


def _spread(n: int, limit: int) -> list[int]:
    """At most `limit` indices spread evenly over range(n) (deterministic)."""
    if n <= limit:
        return list(range(n))
    return [round(i * (n - 1) / (limit - 1)) for i in range(limit)]


def _real_images(dataset: UnpairedDataset, domain: str) -> Tensor:
    """The whole training images of one domain at the judge's size (no crop: the judge looks at
    whole scenes, the translations it scores are crops of about the same content)."""
    from i2i.data.images import image_to_tensor

    folder = dataset.domains[domain]
    out = []
    for i in _spread(len(folder), JUDGE_MAX_IMAGES):
        picture = folder.read(i)[IMAGE].resize((JUDGE_SIZE, JUDGE_SIZE), resample=3)  # bicubic
        out.append(image_to_tensor(picture))
    return torch.stack(out)


def _cache_path(dataset: UnpairedDataset) -> Path:
    from i2i.metrics.judges import cache_dir, digest

    parts: list[bytes | str] = [JUDGE_VERSION, str(JUDGE_SIZE)]
    for domain in (DOMAIN_A, DOMAIN_B):
        folder = dataset.domains[domain]
        for i in _spread(len(folder), JUDGE_MAX_IMAGES):
            path = folder.paths(i)[IMAGE]
            assert path is not None
            parts += [domain, path.name, path.read_bytes()]
    return cache_dir() / "unpaired" / f"domain-judge-{digest(parts)}.safetensors"


def neither(real: Tensor, generator: torch.Generator) -> Tensor:
    """Images of neither domain, as many as `real`: a third smooth random colour fields, a third
    the real images blurred to 4x4, a third the real images under strong noise."""
    n = real.shape[0]
    size = real.shape[-2:]
    fields = torch.rand(n, 3, 4, 4, generator=generator) * 2 - 1
    fields = F.interpolate(fields, size=size, mode="bicubic", align_corners=False)
    fields = fields + 0.2 * torch.randn(fields.shape, generator=generator)
    blurred = F.interpolate(
        F.interpolate(real, size=(4, 4), mode="area"), size=size, mode="bilinear", align_corners=False
    )
    noisy = real + 0.6 * torch.randn(real.shape, generator=generator)
    kind = torch.randint(0, 3, (n, 1, 1, 1), generator=generator)
    out = torch.where(kind == 0, fields, torch.where(kind == 1, blurred, noisy))
    return out.clamp(-1, 1)


def train_judge(
    images_a: Tensor, images_b: Tensor, model: DomainJudge, steps: int = JUDGE_STEPS, seed: int = 0
) -> None:
    """Fit the judge on real images of both domains and on images of neither (flip
    augmentation), balanced batches of 16 each."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0] * 16 + [1] * 16 + [OTHER] * 16)

    def loss(step: int, rng: random.Random) -> Tensor:
        ia = torch.tensor([rng.randrange(images_a.shape[0]) for _ in range(16)])
        ib = torch.tensor([rng.randrange(images_b.shape[0]) for _ in range(16)])
        both = torch.cat([images_a[ia], images_b[ib]])
        x = torch.cat([both, neither(both[torch.randperm(32, generator=g)[:16]], g)])
        return F.cross_entropy(model(x.flip(-1) if step % 2 else x), labels)

    fit_judge(model, steps, loss, seed=seed)


def judge(data: Path, config_data: Any) -> DomainJudge:
    """The cached judge of this data set's training images (trained on first use)."""
    from i2i.metrics.judges import cached_judge

    train_set = UnpairedDataset(data, config_data, "train", False)

    def train(model: DomainJudge) -> None:
        train_judge(_real_images(train_set, DOMAIN_A), _real_images(train_set, DOMAIN_B), model)

    return cached_judge(_cache_path(train_set), DomainJudge, train)


@torch.no_grad()
def _called(model: DomainJudge, images: Tensor, domain: int) -> float:
    """Fraction of `images` the judge assigns to `domain` (0 = A, 1 = B; else A, B or neither)."""
    return float((model(images).argmax(1) == domain).float().mean())


def _translate(pipe: Any, images: Tensor, way: int) -> Tensor:
    batch = {INPUT: images, DIRECTION: torch.full((images.shape[0],), way, dtype=torch.long)}
    return generate_in_chunks(pipe, batch, BATCH, seed=0, seed_per_chunk=False)


def _l1(x: Tensor, y: Tensor) -> float:
    """Mean absolute difference on [0, 1] (images are in [-1, 1])."""
    return float((x - y).abs().mean() / 2)


def _round(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def scores(pipe: Any, data: Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """The numbers of `evaluate`, per direction (see the module doc)."""
    dataset = UnpairedDataset(data, pipe.config.data, split, False)
    model = judge(data, pipe.config.data)
    out: dict[str, Any] = {"images": {}}
    for source, target, way, back, name in (
        (DOMAIN_A, DOMAIN_B, A_TO_B, B_TO_A, "AtoB"),
        (DOMAIN_B, DOMAIN_A, B_TO_A, A_TO_B, "BtoA"),
    ):
        n = dataset.size(source) if limit is None else min(limit, dataset.size(source))
        if n == 0:
            raise InputError(data, f"no {split} images of domain {source.upper()} to evaluate on")
        real = torch.stack([dataset.image(source, i) for i in range(n)])
        fake = _translate(pipe, real, way)
        rec = _translate(pipe, fake, back)
        targets = torch.stack([dataset.image(target, i) for i in range(min(n, dataset.size(target)))])
        label = 1 if target == DOMAIN_B else 0
        out["images"][name] = n
        out[name] = _round(
            {
                "cycle_l1": _l1(rec, real),
                "domain_score": _called(model, fake, label),
                "floor": _called(model, real, label),
                "ceiling": _called(model, targets, label),
                "change": _l1(fake, real),
            }
        )
    return out


def evaluate(pipe: Any, data: Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """`i2i eval`: the common result header (`i2i.metrics.result`) around the scores of both
    directions, their means (`model`) and the untranslated inputs' (`baseline`)."""
    from i2i.metrics.result import evaluation

    result = scores(pipe, Path(data), split, limit)
    counts = result.pop("images")
    both = ("AtoB", "BtoA")
    metrics = {
        "model": {
            "cycle_l1": round(sum(result[d]["cycle_l1"] for d in both) / 2, 4),
            "domain_score": round(sum(result[d]["domain_score"] for d in both) / 2, 4),
        },
        "baseline": {
            "name": "untranslated inputs (a model that changes nothing)",
            "cycle_l1": 0.0,
            "domain_score": round(sum(result[d]["floor"] for d in both) / 2, 4),
        },
        **result,
        "images": counts,
    }
    notes = (
        "cycle_l1: L1 on [0,1] of A->B->A and B->A->B; domain_score: fraction of translations a judge "
        "CNN trained on trainA vs trainB (and images of neither) assigns to the target domain (floor: "
        "the inputs untranslated, ceiling: real target-domain images); change: L1 on [0,1] input vs "
        "translation"
    )
    return evaluation(pipe, data, split, sum(counts.values()), metrics, notes)
