"""The two-way generator: both translation directions of a CycleGAN in one Generator.

A model file holds one `generator`; for two domains that generator is this module, holding
`a_to_b` (the original's G_A) and `b_to_a` (G_B). The pipeline runs it like any spatial
generator: the conditioner puts the requested direction of every sample into
`Condition.parts["direction"]` (0 = A->B, 1 = B->A) and the generator routes each sample to its
network, so one batch may even mix directions. The cycle recipe calls `a_to_b` / `b_to_a`
directly.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from i2i.interfaces import Condition, Generator

A_TO_B, B_TO_A = 0, 1
DIRECTION = "direction"  # the Condition part holding each sample's direction


class TwoWayGenerator(Generator):
    """Routes each sample of a Condition to `a_to_b` or `b_to_a` by `parts["direction"]`."""

    noise_dim = 0

    def __init__(self, a_to_b: Generator, b_to_a: Generator) -> None:
        super().__init__()
        self.a_to_b = a_to_b
        self.b_to_a = b_to_a

    @property
    def size_multiple(self) -> int:
        """Inputs must suit both networks (the pipeline pads to this)."""
        return math.lcm(int(self.a_to_b.size_multiple), int(self.b_to_a.size_multiple))

    def direction(self, index: int) -> Generator:
        return self.a_to_b if index == A_TO_B else self.b_to_a

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        if cond.maps is None:
            raise ValueError("TwoWayGenerator needs the input image in Condition.maps")
        way = cond.parts.get(DIRECTION)
        if way is None:
            return self.a_to_b(cond)
        way = way.reshape(-1)
        if bool((way == way[0]).all()):  # one direction for the whole batch (the usual case)
            return self.direction(int(way[0]))(cond)
        out: Tensor | None = None
        for index in (A_TO_B, B_TO_A):
            rows = (way == index).nonzero().reshape(-1)
            if rows.numel() == 0:
                continue
            part = self.direction(index)(Condition(maps=cond.maps.index_select(0, rows)))
            if out is None:
                out = part.new_empty((cond.maps.shape[0], *part.shape[1:]))
            out[rows] = part
        assert out is not None
        return out


def two_way(network: str = "resnet", **kwargs: Any) -> TwoWayGenerator:
    """Two generators of the same registered architecture (`network`, e.g. `resnet` with
    n_blocks 9 as the original CycleGAN), built with the same keyword arguments."""
    from i2i.engine.build import build_network

    section = {"name": network, **kwargs}
    nets = [build_network("generator", section, "model.generator") for _ in range(2)]
    for net in nets:
        if not isinstance(net, Generator):
            raise TypeError(f"model.generator.network: {network!r} is not an i2i Generator")
    return TwoWayGenerator(*nets)
