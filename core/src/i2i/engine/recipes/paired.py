"""The paired recipe: a conditioner and a generator against one discriminator (pix2pix, SPADE,
pix2pixHD, DF-GAN ...). D first (real vs detached fake), then G against the updated D; the loss
of each side is the weighted sum of its configured terms (`i2i.terms`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i import temporal
from i2i import terms as loss_terms
from i2i.engine.recipe import Recipe, RecipeContext, StatsAccumulator, frozen
from i2i.interfaces import Condition
from i2i.keys import TARGET

FAKE_BEFORE = "_fake_before"  # temporal mode: frame t-1 as generated, before any flow warp
SAMPLE_ROWS = 4


class GenerateStep(nn.Module):
    """Conditioner then generator as one module, so one DDP wrapper averages the gradients of
    both (the conditioner's parameters are trained with the generator's)."""

    def __init__(self, conditioner: nn.Module, generator: nn.Module) -> None:
        super().__init__()
        self.conditioner = conditioner
        self.generator = generator

    def forward(self, batch: dict[str, Any], noise: Tensor | None) -> tuple[Condition, Tensor]:
        """(condition, fake) of one batch; temporal mode's previous frame joins the condition."""
        cond = temporal.with_previous(self.conditioner(batch), batch)
        return cond, self.generator(cond, noise)


class PairedRecipe(Recipe):
    """One conditioner + generator (optimiser ``g``) and one discriminator (optimiser ``d``)."""

    name = "paired"
    optimizers = {"g": ("generator", "conditioner"), "d": ("discriminator",)}
    ema = ("generator",)
    sync_batchnorm = ("generator", "discriminator")

    def __init__(self, ctx: RecipeContext) -> None:
        super().__init__(ctx)
        self.networks = {
            "conditioner": ctx.build_conditioner(),
            "generator": ctx.build_generator(),
            "discriminator": ctx.build_discriminator(),
        }
        self.g_terms = ctx.terms("generator")
        self.d_terms = ctx.terms("discriminator")
        self.temporal = bool(ctx.config.temporal.enabled)
        self.previous = temporal.Previous(ctx.config.temporal.flow, ctx.device) if self.temporal else None

    def prepare(self) -> None:
        """Compiled forwards and the DDP wrappers of what each optimiser trains."""
        ctx, nets = self.ctx, self.networks
        self.d_fwd = ctx.compile(nets["discriminator"])
        # DDP wraps what the D step trains (D) and what the G step trains (conditioner + G); the
        # G step runs the unwrapped D, whose frozen parameters DDP must not wait for.
        self.gen_step = ctx.wrap(GenerateStep(nets["conditioner"], ctx.compile(nets["generator"])))
        self.d_train = ctx.wrap(self.d_fwd)

    # ---- helpers ----------------------------------------------------------------------------
    def _generate(self, batch: dict[str, Any]) -> tuple[Condition, Tensor]:
        noise = batch[temporal.NOISE] if temporal.NOISE in batch else self._noise(batch)
        with self.ctx.autocast():
            return self.gen_step(batch, noise)

    def _noise(self, batch: Mapping[str, Any]) -> Tensor | None:
        return self.ctx.noise(batch[TARGET].shape[0], self.noise_dim())

    def _with_previous(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Temporal mode: generate frame t-1 first (no previous frame, as a video's first frame),
        then give it to frame t, as inference does; both frames share one noise draw."""
        before = temporal.previous_sample(batch)
        noise = self._noise(batch)
        with torch.no_grad():
            _, fake_before = self._generate({**before, temporal.NOISE: noise})
        assert self.previous is not None
        moved = self.previous(fake_before.float(), batch.get("input"), before.get("input"))
        return {**batch, temporal.PREVIOUS: moved, temporal.NOISE: noise, FAKE_BEFORE: fake_before}

    # ---- the step ---------------------------------------------------------------------------
    def train_step(
        self, micro_batches: list[dict[str, Any]], averaged: Mapping[str, nn.Module]
    ) -> dict[str, float]:
        """D on real vs detached fake (its terms), then G against the updated, frozen D (its terms,
        plus the temporal loss in temporal mode); with one micro-batch the D step's fake is reused."""
        ctx, step = self.ctx, self.ctx.step
        if self.temporal:
            micro_batches = [self._with_previous(b) for b in micro_batches]
        accum = len(micro_batches)
        stats = StatsAccumulator(accum)
        d = self.networks["discriminator"]

        # discriminator: real vs detached fake
        ctx.zero_grad("d")
        d_finite = ctx.finite()
        kept: list[tuple[Condition, Tensor]] = []
        needs = loss_terms.requires_grad(self.d_terms, step)
        for batch in micro_batches:
            real = batch[TARGET]
            if accum == 1:
                cond, fake = self._generate(batch)
                kept.append((cond, fake))
            else:
                with torch.no_grad():
                    cond, fake = self._generate(batch)
            c_d = cond.detach()
            if "real" in needs:
                real = real.detach().requires_grad_(True)
            grads = {
                f: getattr(c_d, f).requires_grad_(True)
                for f in needs - {"real"}
                if getattr(c_d, f) is not None
            }
            c_real = replace(c_d, **grads) if grads else c_d
            with ctx.autocast():
                d_fake = self.d_train(fake.detach(), c_d)
                d_real = self.d_train(real, c_real)
            view = loss_terms.StepContext(
                step, ctx.config.loss.gan, batch, c_d, real, fake.detach(), d_fake,
                self.ctx.discriminate(self.d_train), d_real, c_real,
            )  # fmt: skip
            ctx.backward_terms(loss_terms.evaluate(self.d_terms, view, "d_"), d_finite, stats, accum)
        ctx.apply("d", d_finite, stats)

        # generator: fool the updated discriminator, plus its other terms
        ctx.zero_grad("g")
        g_finite = ctx.finite()
        real_outputs = any(t.term.needs_real_outputs for t in self.g_terms if t.active(step))
        with frozen(d):
            for i, batch in enumerate(micro_batches):
                real = batch[TARGET]
                cond, fake = kept[i] if accum == 1 else self._generate(batch)
                with ctx.autocast():
                    d_fake = self.d_fwd(fake, cond)
                    d_real = None
                    if real_outputs:
                        with torch.no_grad():
                            d_real = self.d_fwd(real, cond.detach())
                view = loss_terms.StepContext(
                    step, ctx.config.loss.gan, batch, cond, real, fake, d_fake,
                    self.ctx.discriminate(self.d_fwd), d_real, aux=cond.aux,
                )  # fmt: skip
                values = loss_terms.evaluate(self.g_terms, view, "g_")
                if self.temporal:
                    change = temporal.temporal_loss(
                        fake, batch[FAKE_BEFORE], real, batch[temporal.PREFIX + TARGET]
                    )
                    values["g_temporal"] = ctx.config.temporal.weight * change
                ctx.backward_terms(values, g_finite, stats, accum)
        ctx.apply("g", g_finite, stats)
        return dict(stats)

    # ---- outputs ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self, batch: dict[str, Any], averaged: Mapping[str, nn.Module], seed: int) -> Tensor:
        """Rows of (condition | generated | target) for a fixed set of held-out samples."""
        gen = averaged.get("generator", self.networks["generator"])
        conditioner = self.networks["conditioner"]
        n = batch[TARGET].shape[0]
        was_training = gen.training
        gen.eval()
        conditioner.eval()
        g = torch.Generator(device="cpu").manual_seed(seed)
        dim = int(gen.noise_dim)
        z = torch.randn(n, dim, generator=g).to(self.ctx.device) if dim else None
        with self.ctx.autocast():
            cond = conditioner(batch)
            fake = gen(cond, z).float()
        gen.train(was_training)
        conditioner.train()
        target = batch[TARGET].float()
        cols = []
        shown = conditioner.visualize(batch, cond)
        if shown is not None:
            cols.append(F.interpolate(shown.float(), size=target.shape[-2:], mode="nearest"))
        cols += [fake, target]
        return torch.cat(cols, dim=3).clamp(-1, 1).cpu()


__all__ = ["SAMPLE_ROWS", "GenerateStep", "PairedRecipe"]
