"""The `cycle` recipe: unpaired translation as the original CycleGAN trains it.

Networks (by name, so run states, EMA and the model file reach each): `conditioner` (no weights:
it puts the direction into the Condition), `generator` (the two-way generator: `a_to_b` is the
original's G_A, `b_to_a` its G_B), `d_a` (judges domain A images: the original's D_B) and `d_b`
(judges domain B: D_A). Optimisers: `g` over both generators, `d` over both discriminators, with
``optim.lr_g`` / ``optim.betas_g`` and ``optim.lr_d`` / ``optim.betas_d`` as for any recipe.

One step, as `optimize_parameters` of the original:

1. forward: fake_b = a_to_b(a), rec_a = b_to_a(fake_b), fake_a = b_to_a(b), rec_b = a_to_b(fake_a)
   (and the identity images a_to_b(b), b_to_a(a) when an `identity` term is configured);
2. generator step with both discriminators frozen: the `loss.generator` terms, evaluated once
   per direction with one `StepContext` each (A->B: real = b, fake = fake_b, D = d_b,
   aux = {source: a, reconstruction: rec_a, identity: a_to_b(b)}; B->A mirrored), summed;
3. discriminator step: the `loss.discriminator` terms per domain, D seeing the real images and
   fakes drawn from an image pool of past fakes (`ImagePool`, 50 per discriminator).

The configured terms do the arithmetic: CycleGAN is `adversarial: 1, cycle: 10, identity: 5`
(the original's lambda 10 and identity 0.5 x lambda) with `loss.gan: lsgan`, and the
discriminator's `adversarial` term is the original's 0.5 x (real + fake). Any other registered
term (feature matching, R1, a plugin's own) works per direction the same way.

Exact resume: the pools' contents are part of `extra_state()`, and the pool's random choices come
from a `random.Random` seeded by (seed, step, rank), so a resumed run makes the same choices.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from i2i import terms as loss_terms
from i2i.engine.data_stream import mix_seed
from i2i.engine.recipe import Recipe, RecipeContext, StatsAccumulator, frozen
from i2i.errors import ConfigError
from i2i.interfaces import Condition
from i2i.keys import DOMAIN_A, DOMAIN_B
from i2i.terms import AuxL1
from i2i_unpaired.nets import A_TO_B, B_TO_A, TwoWayGenerator

POOL_STREAM = 11  # mix_seed stream of the image pools' random choices
SOURCE, RECONSTRUCTION, IDENTITY = "source", "reconstruction", "identity"


# ---- the plugin's loss terms ------------------------------------------------------------------
def cycle_term() -> AuxL1:
    """Cycle consistency: L1 between the source image and its round trip (A -> B -> A)."""
    return AuxL1(RECONSTRUCTION, SOURCE)


def identity_term() -> AuxL1:
    """Identity: a generator given an image of its own output domain should leave it unchanged
    (L1 between a_to_b(b) and b); keeps colours of the input in the original."""
    return AuxL1(IDENTITY, "real")


# ---- the image pool ---------------------------------------------------------------------------
class ImagePool:
    """Past generated images for a discriminator (Shrivastava et al. 2017, as CycleGAN uses it).

    Until the pool holds `size` images every fake is stored and returned as is; afterwards each
    fake is, with probability 1/2, swapped for a random stored one (which D then sees) or
    returned as is. Images are kept detached, in float32 and contiguous on the training device,
    so the pool can be saved and restored exactly. size 0 disables the pool.
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.images: list[Tensor] = []

    def query(self, images: Tensor, rng: random.Random, memory_format: torch.memory_format) -> Tensor:
        if self.size <= 0:
            return images.detach()
        out = []
        for image in images.detach():
            image = image.float().contiguous()[None]
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif rng.random() > 0.5:
                index = rng.randrange(self.size)
                out.append(self.images[index])
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out).contiguous(memory_format=memory_format)

    def state(self) -> list[Tensor]:
        return list(self.images)

    def load(self, images: list[Tensor], device: torch.device) -> None:
        self.images = [t.to(device).float().contiguous() for t in images][: self.size]


# ---- one module per optimiser, for DDP ----------------------------------------------------------
class CycleForward(nn.Module):
    """Both translations and round trips as one forward, so one DDP wrapper averages the
    gradients of both generators (their parameters are trained by one optimiser)."""

    def __init__(self, conditioner: nn.Module, a_to_b: nn.Module, b_to_a: nn.Module) -> None:
        super().__init__()
        self.conditioner = conditioner
        self.a_to_b = a_to_b
        self.b_to_a = b_to_a

    def forward(self, real_a: Tensor, real_b: Tensor, identity: bool) -> dict[str, Tensor]:
        cond = self.conditioner.condition
        fake_b = self.a_to_b(cond(real_a, A_TO_B))
        fake_a = self.b_to_a(cond(real_b, B_TO_A))
        out = {
            "fake_b": fake_b,
            "rec_a": self.b_to_a(cond(fake_b, B_TO_A)),
            "fake_a": fake_a,
            "rec_b": self.a_to_b(cond(fake_a, A_TO_B)),
        }
        if identity:
            out["idt_b"] = self.a_to_b(cond(real_b, A_TO_B))
            out["idt_a"] = self.b_to_a(cond(real_a, B_TO_A))
        return out


# ---- the recipe -----------------------------------------------------------------------------------
class CycleRecipe(Recipe):
    """Two generators (optimiser ``g``) against two discriminators (optimiser ``d``)."""

    name = "cycle"
    optimizers = {"g": ("generator", "conditioner"), "d": ("d_a", "d_b")}
    ema = ("generator",)
    sync_batchnorm = ("generator", "d_a", "d_b")

    def __init__(self, ctx: RecipeContext) -> None:
        super().__init__(ctx)
        config = ctx.config
        if config.temporal.enabled:
            raise ConfigError("temporal.enabled: the cycle recipe has no temporal mode")
        generator = ctx.build_generator()
        if not isinstance(generator, TwoWayGenerator):
            raise ConfigError("model.generator.name: the cycle recipe needs a two-way generator (two_way)")
        self.networks = {
            "conditioner": ctx.build_conditioner(),
            "generator": generator,
            "d_a": ctx.build_discriminator(),
            "d_b": ctx.build_discriminator(),
        }
        if not hasattr(self.networks["conditioner"], "condition"):
            raise ConfigError(
                "model.conditioner: the cycle recipe needs a conditioner with condition(image, way)"
            )
        self.g_terms = ctx.terms("generator")
        self.d_terms = ctx.terms("discriminator")
        pool_size = int(config.get("cycle", {}).get("pool_size", 50))
        self.pools = {DOMAIN_A: ImagePool(pool_size), DOMAIN_B: ImagePool(pool_size)}
        self.memory_format = torch.channels_last if config.train.channels_last else torch.contiguous_format

    def prepare(self) -> None:
        ctx, nets = self.ctx, self.networks
        gen = nets["generator"]
        self.d_fwd = {DOMAIN_A: ctx.compile(nets["d_a"]), DOMAIN_B: ctx.compile(nets["d_b"])}
        # DDP wraps what each optimiser trains; the G step runs the unwrapped (frozen) Ds.
        self.g_train = ctx.wrap(
            CycleForward(nets["conditioner"], ctx.compile(gen.a_to_b), ctx.compile(gen.b_to_a))
        )
        self.d_train = {domain: ctx.wrap(d) for domain, d in self.d_fwd.items()}

    # ---- helpers ------------------------------------------------------------------------------

    def _needs_identity(self, step: int) -> bool:
        return any(getattr(t.term, "key", None) == IDENTITY for t in self.g_terms if t.active(step))

    def _condition(self, image: Tensor, way: int) -> Condition:
        return self.networks["conditioner"].condition(image, way)

    # ---- the step ---------------------------------------------------------------------------------
    def train_step(
        self, micro_batches: list[dict[str, Any]], averaged: Mapping[str, nn.Module]
    ) -> dict[str, float]:
        ctx, step = self.ctx, self.ctx.step
        accum = len(micro_batches)
        stats = StatsAccumulator(accum)
        gan = ctx.config.loss.gan
        identity = self._needs_identity(step)
        real_outputs = any(t.term.needs_real_outputs for t in self.g_terms if t.active(step))

        # generators, both discriminators frozen
        ctx.zero_grad("g")
        g_finite = ctx.finite()
        fakes: list[dict[str, Tensor]] = []
        with frozen(*self.d_fwd.values()):
            for batch in micro_batches:
                real = {DOMAIN_A: batch[DOMAIN_A], DOMAIN_B: batch[DOMAIN_B]}
                with ctx.autocast():
                    out = self.g_train(real[DOMAIN_A], real[DOMAIN_B], identity)
                values: dict[str, Tensor] = {}
                for source, target, way, tag in (
                    (DOMAIN_A, DOMAIN_B, A_TO_B, "ab"),
                    (DOMAIN_B, DOMAIN_A, B_TO_A, "ba"),
                ):
                    fake = out[f"fake_{target}"]
                    cond = self._condition(real[source], way)
                    d = self.d_fwd[target]
                    aux = {SOURCE: real[source], RECONSTRUCTION: out[f"rec_{source}"]}
                    if identity:
                        aux[IDENTITY] = out[f"idt_{target}"]
                    with ctx.autocast():
                        d_fake = d(fake, cond)
                        d_real = None
                        if real_outputs:
                            with torch.no_grad():
                                d_real = d(real[target], cond.detach())
                    view = loss_terms.StepContext(
                        step,
                        gan,
                        batch,
                        cond,
                        real[target],
                        fake,
                        d_fake,
                        self.ctx.discriminate(d),
                        d_real,
                        aux=aux,
                    )
                    values.update(loss_terms.evaluate(self.g_terms, view, f"g_{tag}_"))
                ctx.backward_terms(values, g_finite, stats, accum)
                fakes.append({DOMAIN_A: out["fake_a"].detach(), DOMAIN_B: out["fake_b"].detach()})
        ctx.apply("g", g_finite, stats)

        # discriminators: real images against fakes from the pools of past fakes
        rng = random.Random(mix_seed(int(ctx.config.seed), POOL_STREAM, step, ctx.world.rank))
        ctx.zero_grad("d")
        d_finite = ctx.finite()
        needs = loss_terms.requires_grad(self.d_terms, step)
        for batch, fake in zip(micro_batches, fakes):
            values = {}
            for domain, way in ((DOMAIN_B, A_TO_B), (DOMAIN_A, B_TO_A)):
                pooled = self.pools[domain].query(fake[domain], rng, self.memory_format)
                real = batch[domain]
                if "real" in needs:
                    real = real.detach().requires_grad_(True)
                cond = self._condition(pooled, way).detach()
                d = self.d_train[domain]
                with ctx.autocast():
                    d_fake = d(pooled, cond)
                    d_real = d(real, cond)
                view = loss_terms.StepContext(
                    step, gan, batch, cond, real, pooled, d_fake, self.ctx.discriminate(d), d_real, cond
                )
                values.update(loss_terms.evaluate(self.d_terms, view, f"d_{domain}_"))
            ctx.backward_terms(values, d_finite, stats, accum)
        ctx.apply("d", d_finite, stats)
        return dict(stats)

    # ---- state and outputs ----------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {f"pool_{domain}": pool.state() for domain, pool in self.pools.items()}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        for domain, pool in self.pools.items():
            pool.load(list(state.get(f"pool_{domain}", [])), self.ctx.device)

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, Any], averaged: Mapping[str, nn.Module], seed: int) -> Tensor:
        """Rows of (A | A->B | A->B->A | B | B->A | B->A->B) for fixed held-out samples."""
        gen = averaged.get("generator", self.networks["generator"])
        was_training = gen.training
        gen.eval()
        real_a, real_b = batch[DOMAIN_A].float(), batch[DOMAIN_B].float()
        with self.ctx.autocast():
            fake_b = gen.a_to_b(self._condition(real_a, A_TO_B)).float()
            rec_a = gen.b_to_a(self._condition(fake_b, B_TO_A)).float()
            fake_a = gen.b_to_a(self._condition(real_b, B_TO_A)).float()
            rec_b = gen.a_to_b(self._condition(fake_a, A_TO_B)).float()
        gen.train(was_training)
        return torch.cat([real_a, fake_b, rec_a, real_b, fake_a, rec_b], dim=3).clamp(-1, 1).cpu()


__all__ = ["CycleForward", "CycleRecipe", "ImagePool", "cycle_term", "identity_term"]
