"""Weight initialisation as in the original pix2pix/CycleGAN code.

PyTorch's default (Kaiming-uniform) initialisation is not what pix2pix was tuned with; its
networks start from N(0, 0.02) convolutions and N(1, 0.02) BatchNorm scales, and the published
learning rates assume that. The factories apply this so training from scratch matches the paper.
"""

from __future__ import annotations

import torch
from torch import nn

INIT_KINDS = ("normal", "xavier", "kaiming", "orthogonal", "default")


@torch.no_grad()
def init_weights(module: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise every conv/linear and BatchNorm layer in `module`; returns `module`.

    kind: "normal" (N(0, gain), pix2pix's default), "xavier", "kaiming", "orthogonal", or
    "default" to keep PyTorch's own initialisation. Biases start at 0; BatchNorm at N(1, gain), 0.
    """
    if kind not in INIT_KINDS:
        raise ValueError(f"init must be one of {', '.join(INIT_KINDS)}; got {kind!r}")
    if kind == "default":
        return module
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # Under spectral norm the trainable tensor is the "original" weight.
            weight = (
                layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
            )
            if kind == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)
    return module
