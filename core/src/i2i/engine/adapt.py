"""Test-time adaptation: a few optimiser steps of a loaded pipeline on the user's own examples.

Few-shot models (talking heads) adapt to a new person by training briefly on the
portraits they were given, inside `i2i-run`, with no run directory and no discriminator. This is
the engine's step machinery for that: the generator-side loss terms of the registry (by name and
weight, as in a config), the engine's Adam, its precision and its NaN guard, so a plugin never
writes its own optimisation loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from i2i import terms as loss_terms
from i2i.engine import distributed
from i2i.engine.device import select_precision
from i2i.engine.recipe import RecipeContext, StatsAccumulator
from i2i.keys import TARGET


def _no_discriminator(image: Tensor, cond: Any) -> Any:
    raise RuntimeError("fine-tuning has no discriminator: use generator terms without D outputs")


def fine_tune(
    pipe: Any,
    batch: Mapping[str, Any],
    steps: int,
    loss: Mapping[str, Any] | None = None,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    precision: str = "fp32",
) -> list[float]:
    """`steps` updates of the pipeline's conditioner and generator on `batch` (which holds the
    `target` images), minimising the generator-side terms `loss` (default ``{"l1": 1.0}``; terms
    that need a discriminator cannot be used). Returns the loss before each update; leaves both
    networks in eval mode. A step with a non-finite loss is skipped, as in training."""
    from i2i.engine.trainer import make_adam

    ctx = RecipeContext(pipe.config, pipe.modality, pipe.device, select_precision(precision, pipe.device),
                        distributed.World())  # fmt: skip
    terms = loss_terms.build_terms("generator", dict(loss or {"l1": 1.0}), "fine-tuning loss")
    for t in terms:
        t.term.to(pipe.device)
    params = [*pipe.generator.parameters(), *pipe.conditioner.parameters()]
    ctx.optimizers["g"] = make_adam(params, lr, list(betas), pipe.device)
    batch = {k: v.to(pipe.device) if isinstance(v, Tensor) else v for k, v in batch.items()}
    dim = int(pipe.generator.noise_dim)
    history = []
    # the networks stay in eval mode: a handful of examples are too few to re-estimate
    # normalisation statistics, and dropout would only add noise to so short a run
    try:
        with torch.enable_grad():
            for step in range(steps):
                ctx.step = step
                ctx.zero_grad("g")
                with ctx.autocast():
                    cond = pipe.conditioner(batch)
                    fake = pipe.generator(cond, ctx.noise(batch[TARGET].shape[0], dim))
                view = loss_terms.StepContext(step, "none", batch, cond, batch[TARGET], fake, [], _no_discriminator,
                                              aux=cond.aux)  # fmt: skip
                total = loss_terms.total(loss_terms.evaluate(terms, view, "g_"), pipe.device)
                history.append(float(total.detach()))
                ctx.backward(total)
                ctx.apply("g", torch.isfinite(total.detach()), StatsAccumulator(1))
    finally:
        pipe.generator.eval()
        pipe.conditioner.eval()
    return history
