"""text2img's own loss terms (DF-GAN), registered with `register_loss_terms`.

- ``mismatch`` (discriminator): a real image given another sample's caption is also "fake"
  (GAN-INT-CLS, DF-GAN's errD_mis), so D must read the caption, not only judge realism.
- ``ma_gp`` (discriminator): DF-GAN's matching-aware gradient penalty, the gradient norm of D
  w.r.t. the real image and the sentence vector on matched pairs, to a power: it smooths D around
  the real, matching data points. Expensive (a double backward): ``every: 4`` applies it lazily.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from i2i.interfaces import DOutput
from i2i.losses import d_loss
from i2i.terms import LossTerm, StepContext


class Mismatch(LossTerm):
    """D's fake-side loss on (real image, caption of the next sample in the batch)."""

    def forward(self, ctx: StepContext) -> Tensor:
        if ctx.real.shape[0] < 2:
            raise ValueError("loss.discriminator.mismatch needs a batch size > 1 (captions are rolled)")
        wrong = ctx.discriminate(ctx.real.detach(), ctx.cond.roll(1))
        return d_loss(ctx.gan, wrong, real=False)


def matching_aware_gp(outputs: Sequence[DOutput], real: Tensor, vector: Tensor, power: float = 6.0) -> Tensor:
    """Mean of ||grad of D w.r.t. (real image, sentence vector)||^power (both must require grad)."""
    total = sum(o.logits.float().sum() for o in outputs)
    grads = torch.autograd.grad(total, (real, vector), create_graph=True)
    norm = torch.cat([g.float().flatten(1) for g in grads], dim=1).norm(2, dim=1)
    return norm.pow(power).mean()


class MatchingAwareGP(LossTerm):
    """DF-GAN's MA-GP (weight 2, power 6 in the paper) on matched real pairs."""

    requires_grad = ("real", "vector")

    def __init__(self, power: float = 6.0) -> None:
        super().__init__()
        self.power = float(power)

    def forward(self, ctx: StepContext) -> Tensor:
        assert ctx.d_real is not None and ctx.cond_real is not None
        if ctx.cond_real.vector is None:
            raise ValueError("loss.discriminator.ma_gp needs a condition with a sentence vector")
        return matching_aware_gp(ctx.d_real, ctx.real, ctx.cond_real.vector, self.power)
