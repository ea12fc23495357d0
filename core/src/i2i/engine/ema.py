"""Exponential moving average of the generator's weights: smoother samples for export."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps a frozen copy of a module whose parameters trail the live ones; buffers are copied."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, live: nn.Module, decay: float | None = None) -> None:
        d = self.decay if decay is None else decay
        ema_params = list(self.module.parameters())
        live_params = [p.detach() for p in live.parameters()]
        torch._foreach_lerp_(ema_params, live_params, 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), live.buffers(), strict=True):
            b_ema.copy_(b)
