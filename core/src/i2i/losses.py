"""GAN losses over multi-scale discriminator outputs, plus reconstruction and regularisers.

Every adversarial loss takes the list of DOutput a Discriminator returns and averages over
scales, so single- and multi-scale discriminators are interchangeable in configs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from i2i.interfaces import DOutput

GAN_LOSSES = ("vanilla", "lsgan", "hinge")


def _mean_over_scales(outputs: Sequence[DOutput], fn: Callable[[Tensor], Tensor]) -> Tensor:
    return torch.stack([fn(o.logits.float()) for o in outputs]).mean()


def d_loss(kind: str, outputs: Sequence[DOutput], real: bool) -> Tensor:
    """Discriminator loss for one side (real or fake) of the batch."""
    if kind == "vanilla":
        return _mean_over_scales(
            outputs, lambda x: F.binary_cross_entropy_with_logits(x, torch.full_like(x, float(real)))
        )
    if kind == "lsgan":
        return _mean_over_scales(outputs, lambda x: F.mse_loss(x, torch.full_like(x, float(real))))
    if kind == "hinge":
        sign = -1.0 if real else 1.0
        return _mean_over_scales(outputs, lambda x: F.relu(1.0 + sign * x).mean())
    raise ValueError(f"unknown GAN loss {kind!r} (choose from {', '.join(GAN_LOSSES)})")


def g_loss(kind: str, outputs: Sequence[DOutput]) -> Tensor:
    """Generator adversarial loss: make the discriminator call fakes real."""
    if kind == "hinge":
        return _mean_over_scales(outputs, lambda x: -x.mean())
    return d_loss(kind, outputs, real=True)


def feature_matching(fake: Sequence[DOutput], real: Sequence[DOutput]) -> Tensor:
    """L1 between discriminator features of fake and (detached) real images, averaged over layers."""
    terms = [
        F.l1_loss(f.float(), r.detach().float())
        for fo, ro in zip(fake, real, strict=True)
        for f, r in zip(fo.features, ro.features, strict=True)
    ]
    if not terms:
        raise ValueError("feature matching needs a discriminator that returns features")
    return torch.stack(terms).mean()


def r1_penalty(outputs: Sequence[DOutput], real: Tensor) -> Tensor:
    """R1: squared gradient norm of D's real logits w.r.t. the real image (real must require grad)."""
    total = sum(o.logits.float().sum() for o in outputs)
    (grad,) = torch.autograd.grad(total, real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean() / 2
