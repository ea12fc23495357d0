"""seg2img's own loss term: the KL of SPADE's style code, registered with `register_loss_terms`."""

from __future__ import annotations

from torch import Tensor

from i2i.terms import LossTerm, StepContext
from i2i_seg2img.nets import kl_to_standard_normal


class StyleKL(LossTerm):
    """KL(q(z | photo) || N(0, 1)) of the style encoder's posterior, which the conditioner returns
    as `Condition.aux` (`mu`, `logvar`) while training; keeps codes close to N(0, 1) so that noise
    gives plausible new styles at inference. Zero when the model has no style encoder."""

    def forward(self, ctx: StepContext) -> Tensor:
        if "mu" not in ctx.aux:
            return ctx.fake.new_zeros(())
        return kl_to_standard_normal(ctx.aux["mu"].float(), ctx.aux["logvar"].float())
