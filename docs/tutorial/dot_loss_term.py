"""Tutorial step: adding a loss term. A term is a named, registered component that sees one
training step (`i2i.terms.StepContext`) and returns a scalar; configs list it with a weight.

"dot_position" pulls the brightness-weighted centre of the generated image towards the (x, y)
the condition asks for: a direct signal for where the dot goes, which an adversarial loss gives
only slowly. It is run by tests/test_tutorial.py.
"""

from __future__ import annotations

import torch
from torch import Tensor

from i2i import hookimpl
from i2i.terms import LossTerm, StepContext


def centre_of_mass(images: Tensor) -> Tensor:
    """(B,3,H,W) in [-1, 1] -> (B,2) brightness-weighted (x, y) in [0, 1]."""
    weight = (images.float().mean(1) + 1).clamp(min=0) / 2  # (B,H,W), 0 on black
    h, w = weight.shape[-2:]
    ys = (torch.arange(h, device=images.device) + 0.5) / h
    xs = (torch.arange(w, device=images.device) + 0.5) / w
    total = weight.sum((1, 2)).clamp(min=1e-6)
    x = (weight * xs[None, None, :]).sum((1, 2)) / total
    y = (weight * ys[None, :, None]).sum((1, 2)) / total
    return torch.stack([x, y], 1)


class DotPosition(LossTerm):
    """L1 between the fake's centre of mass and the condition's (x, y) (cond.vector[:, :2])."""

    def __init__(self, power: float = 1.0) -> None:  # an option: `{weight: 5, power: 2}` in a config
        super().__init__()
        self.power = float(power)

    def forward(self, ctx: StepContext) -> Tensor:
        assert ctx.cond.vector is not None
        return (centre_of_mass(ctx.fake) - ctx.cond.vector[:, :2].float()).abs().pow(self.power).mean()


@hookimpl
def register_loss_terms(register):
    # side="generator": summed into G's loss; a discriminator term would say side="discriminator"
    register("dot_position", DotPosition, side="generator")
