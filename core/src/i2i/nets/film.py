"""Feature-wise modulation by a condition vector: FiLM / DF-GAN's affine layer.

A sentence or identity embedding steers a convolutional generator most directly by scaling and
shifting every channel at every block (DF-GAN's deep fusion), rather than being concatenated once
at the input where later layers can forget it.
"""

from __future__ import annotations

from torch import Tensor, nn


class Affine(nn.Module):
    """x * gamma(c) + beta(c), per channel; gamma and beta are small MLPs of the condition.

    Starts as the identity (gamma 1, beta 0): a fresh network behaves as if unconditioned and
    learns how much the condition should steer each channel, which keeps early training stable.
    """

    def __init__(self, cond_dim: int, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or channels
        self.gamma = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.beta = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        nn.init.zeros_(self.gamma[2].weight)
        nn.init.ones_(self.gamma[2].bias)
        nn.init.zeros_(self.beta[2].weight)
        nn.init.zeros_(self.beta[2].bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        scale = self.gamma(cond)[:, :, None, None]
        shift = self.beta(cond)[:, :, None, None]
        return x * scale.to(x.dtype) + shift.to(x.dtype)
