"""Tutorial step: adding a recipe. A recipe says which networks a step trains, with which
optimisers, in which order; the engine keeps precision, EMA, checkpoints, exact resume, DDP and
logging the same for every recipe.

"regression" trains the conditioner and generator with no discriminator at all, from the
generator-side loss terms of the config minus the adversarial one (a pure reconstruction
baseline, the "L1 only" column of the pix2pix paper). It is run by tests/test_tutorial.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from i2i import hookimpl
from i2i import terms as loss_terms
from i2i.engine.recipe import Recipe, RecipeContext, StatsAccumulator
from i2i.keys import TARGET


class RegressionRecipe(Recipe):
    name = "regression"
    optimizers = {"g": ("generator", "conditioner")}  # lr and betas: optim.lr_g, optim.betas_g
    ema = ("generator",)  # an EMA copy when ema.decay > 0, saved and resumed by the engine

    def __init__(self, ctx: RecipeContext) -> None:
        super().__init__(ctx)
        self.networks = {"conditioner": ctx.build_conditioner(), "generator": ctx.build_generator()}
        self.g_terms = [t for t in ctx.terms("generator") if t.name != "adversarial"]

    def prepare(self) -> None:
        # the networks are on the device now: wrap what the optimiser trains for DDP (a no-op in one process)
        self.forward_g = self.ctx.wrap(self.ctx.compile(self.networks["generator"]))

    def train_step(
        self, micro_batches: list[dict[str, Any]], averaged: Mapping[str, nn.Module]
    ) -> dict[str, float]:
        ctx = self.ctx
        stats = StatsAccumulator(len(micro_batches))
        ctx.zero_grad("g")
        finite = ctx.finite()
        for batch in micro_batches:
            real = batch[TARGET]
            with ctx.autocast():
                cond = self.networks["conditioner"](batch)
                fake = self.forward_g(cond, ctx.noise(real.shape[0], self.noise_dim()))

            def no_discriminator(image: Tensor, cond: Any) -> Any:
                raise RuntimeError("the regression recipe has no discriminator")

            view = loss_terms.StepContext(
                ctx.step, "none", batch, cond, real, fake, [], no_discriminator, aux=cond.aux
            )
            # sum, log, NaN check and backward of this micro-batch's terms
            ctx.backward_terms(
                loss_terms.evaluate(self.g_terms, view, "g_"), finite, stats, len(micro_batches)
            )
        ctx.apply("g", finite, stats)  # skipped (and counted) if any rank saw NaN/Inf
        return dict(stats)

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, Any], averaged: Mapping[str, nn.Module], seed: int) -> Tensor:
        gen = averaged.get("generator", self.networks["generator"]).eval()
        fake = gen(self.networks["conditioner"](batch), None).float()
        gen.train()
        return torch.cat([fake, batch[TARGET].float()], dim=3).clamp(-1, 1).cpu()


@hookimpl
def register_recipes(register):
    register("regression", RegressionRecipe)
