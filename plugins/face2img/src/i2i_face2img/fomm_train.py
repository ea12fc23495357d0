"""Training first-order-model models in i2i: the ``fomm`` recipe and its loss terms.

The paper trains by self-reenactment: two frames of one video, the first (source) animated by the
keypoints of the second (driving), which is also the target. The generator and the keypoint
detector are trained together (one optimiser ``g``; the original keeps two Adams with the same
settings, which is the same update) by

- ``fomm_perceptual``: VGG19 feature L1 (relu1_1 ... relu5_1) summed over an image pyramid
  (scales 1, 0.5, 0.25, 0.125, anti-aliased), each layer weighted (vox-256: 10 each);
- ``fomm_equivariance_value`` / ``fomm_equivariance_jacobian``: the keypoints must move with the
  image under a random thin-plate-spline warp T of the driving frame: kp(frame) = T(kp(T frame))
  and J(frame)^-1 (dT J(T frame)) = I (vox-256: 10 each);
- optionally the adversarial and feature-matching terms against the paper's patch
  discriminator (``fomm_discriminator``, LSGAN). vox-256 sets the GAN weight to 0, and the
  original then never trains its discriminator: this recipe builds and steps a discriminator only
  when a term needs one.

Order of one step as the original's `train.py`: generator side first, then the discriminator on
the detached fakes. The warp is drawn on the device from torch's generator, which the engine
seeds every step (resume stays exact).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i import terms as loss_terms
from i2i.engine.recipe import Recipe, RecipeContext, StatsAccumulator, frozen
from i2i.errors import ConfigError
from i2i.interfaces import Condition
from i2i.keys import TARGET
from i2i.terms import LossTerm, StepContext
from i2i_face2img.fomm_nets import AntiAliasDownsample, FommGenerator, coordinate_grid

VALUE, JACOBIAN = "fomm_equivariance_value", "fomm_equivariance_jacobian"
DISCRIMINATOR_TERMS = ("adversarial", "feature_matching")  # generator terms that need D


# ---- the random warp of the equivariance constraint --------------------------------------------------
class RandomWarp:
    """T(c) = A c + b + sum_k w_k d_k^2 log(d_k + 1e-6), d_k = |c - p_k|_1, with A, b = identity +
    N(0, sigma_affine) and w ~ N(0, sigma_tps) on a points x points grid of control points p_k
    (the paper's thin-plate-spline warp; its TPS term moves x and y alike, as the original's does)."""

    def __init__(self, batch: int, sigma_affine: float, sigma_tps: float, points: int, like: Tensor) -> None:
        opts = {"device": like.device, "dtype": torch.float32}
        self.theta = torch.eye(2, 3, **opts).unsqueeze(0) + sigma_affine * torch.randn(batch, 2, 3, **opts)
        self.control = coordinate_grid(points, points, self.theta).view(1, 1, -1, 2)
        self.weights = sigma_tps * torch.randn(batch, 1, points * points, **opts)

    def _distances(self, coords: Tensor) -> Tensor:
        return (coords.unsqueeze(2) - self.control).abs().sum(-1)  # (B,N,P)

    def __call__(self, coords: Tensor) -> Tensor:
        """(B,N,2) coordinates in [-1, 1] -> their images under T."""
        coords = coords.float()
        moved = coords @ self.theta[:, :, :2].transpose(1, 2) + self.theta[:, :, 2].unsqueeze(1)
        d = self._distances(coords)
        tps = (d.pow(2) * torch.log(d + 1e-6) * self.weights).sum(-1, keepdim=True)
        return moved + tps

    def jacobian(self, coords: Tensor) -> Tensor:
        """(B,N,2,2) derivative of T at the coordinates (differentiable in them)."""
        coords = coords.float()
        diff = coords.unsqueeze(2) - self.control  # (B,N,P,2)
        d = diff.abs().sum(-1, keepdim=True)
        slope = 2 * d * torch.log(d + 1e-6) + d.pow(2) / (d + 1e-6)  # d/dd of d^2 log(d + eps)
        grad = (slope * torch.sign(diff) * self.weights.unsqueeze(-1)).sum(2)  # (B,N,2)
        affine = self.theta[:, :, :2].unsqueeze(1)  # (B,1,2,2)
        return affine + grad.unsqueeze(2).expand(-1, -1, 2, -1)

    def warp_image(self, image: Tensor) -> Tensor:
        """The image resampled under T (reflection padding), as the keypoint detector then sees it."""
        b, _, h, w = image.shape
        grid = self(coordinate_grid(h, w, self.theta).view(1, h * w, 2).expand(b, -1, -1)).view(b, h, w, 2)
        return F.grid_sample(image, grid.to(image.dtype), padding_mode="reflection", align_corners=False)


# ---- loss terms ----------------------------------------------------------------------------------------
class Perceptual(LossTerm):
    """Sum over pyramid scales and VGG19 layers of layer_weight * mean |VGG(fake) - VGG(real)|, on
    [0, 1] images normalised as ImageNet (the original's `Vgg19` and `ImagePyramide`). The VGG19
    weights are torchvision's, read from the torch hub cache (core `i2i.nets.vgg`)."""

    def __init__(
        self,
        scales: Sequence[float] = (1, 0.5, 0.25, 0.125),
        layer_weights: Sequence[float] = (1, 1, 1, 1, 1),
    ) -> None:
        super().__init__()
        from i2i.nets.vgg import load_vgg_loss

        vgg = load_vgg_loss()
        self.slices = vgg.slices
        self.register_buffer("mean", vgg.mean.clone())
        self.register_buffer("std", vgg.std.clone())
        if len(layer_weights) != len(self.slices):
            raise ConfigError(
                f"loss.generator.fomm_perceptual.layer_weights: give {len(self.slices)} weights"
            )
        self.layer_weights = [float(w) for w in layer_weights]
        self.scales = [float(s) for s in scales]
        self.downs = nn.ModuleList(
            AntiAliasDownsample(3, s) if s != 1 else nn.Identity() for s in self.scales
        )

    def forward(self, ctx: StepContext) -> Tensor:
        fake, real = (ctx.fake.float() + 1) / 2, (ctx.real.float() + 1) / 2
        total = fake.new_zeros(())
        for down in self.downs:
            x, y = (down(fake) - self.mean) / self.std, (down(real) - self.mean) / self.std
            for weight, block in zip(self.layer_weights, self.slices):
                x, y = block(x), block(y)
                total = total + weight * (x - y.detach()).abs().mean()
        return total


class _Equivariance(LossTerm):
    """Options of the random warp (the recipe draws one per step for both equivariance terms)."""

    def __init__(self, sigma_affine: float = 0.05, sigma_tps: float = 0.005, points_tps: int = 5) -> None:
        super().__init__()
        self.warp_options = (float(sigma_affine), float(sigma_tps), int(points_tps))


class EquivarianceValue(_Equivariance):
    """mean |kp(driving) - T(kp(T driving))|."""

    def forward(self, ctx: StepContext) -> Tensor:
        return (ctx.aux["kp_driving"] - ctx.aux["kp_warped_back"]).abs().mean()


class EquivarianceJacobian(_Equivariance):
    """mean |I - J(driving)^-1 dT J(T driving)|."""

    def forward(self, ctx: StepContext) -> Tensor:
        value = torch.inverse(ctx.aux["kp_driving_jacobian"]) @ ctx.aux["kp_warped_back_jacobian"]
        eye = torch.eye(2, device=value.device, dtype=value.dtype)
        return (eye - value).abs().mean()


# ---- the step -----------------------------------------------------------------------------------------
class FommStep(nn.Module):
    """Conditioner + generator of one training step as one module (one DDP wrapper): the fake in
    [-1, 1] by self-reenactment, and the keypoint outputs the equivariance terms read."""

    def __init__(self, conditioner: nn.Module, generator: FommGenerator) -> None:
        super().__init__()
        self.conditioner = conditioner
        self.generator = generator

    def forward(
        self, batch: Mapping[str, Any], warp: tuple[float, float, int] | None
    ) -> tuple[Condition, Tensor, dict[str, Tensor]]:
        cond = self.conditioner(batch)
        gen = self.generator
        source, driving = (cond.refs + 1) / 2, (cond.parts["driving"] + 1) / 2
        kp_source, kp_driving = gen.keypoints(source), gen.keypoints(driving)
        fake = gen.animate(source, kp_source, kp_driving) * 2 - 1
        aux: dict[str, Tensor] = {}
        if warp is not None:
            transform = RandomWarp(driving.shape[0], *warp, like=driving)
            kp_warped = gen.keypoints(transform.warp_image(driving))
            aux["kp_driving"] = kp_driving.value
            aux["kp_warped_back"] = transform(kp_warped.value)
            if kp_warped.jacobian is not None and kp_driving.jacobian is not None:
                aux["kp_driving_jacobian"] = kp_driving.jacobian
                aux["kp_warped_back_jacobian"] = transform.jacobian(kp_warped.value) @ kp_warped.jacobian
        return cond, fake, aux


def _no_discriminator(image: Tensor, cond: Condition) -> list:
    raise ConfigError("a loss term asked for a discriminator verdict, but this fomm config trains none")


class FommRecipe(Recipe):
    """first-order-model training: generator + keypoint detector (optimiser ``g``), then the
    discriminator (``d``) when the config's terms use one."""

    name = "fomm"
    optimizers = {"g": ("generator", "conditioner"), "d": ("discriminator",)}
    ema = ("generator",)
    sync_batchnorm = ("generator", "discriminator")

    def __init__(self, ctx: RecipeContext) -> None:
        super().__init__(ctx)
        self.g_terms = ctx.terms("generator")
        self.d_terms = ctx.terms("discriminator")
        generator = ctx.build_generator()
        if not isinstance(generator, FommGenerator):
            raise ConfigError("recipe: fomm trains first-order-model generators (model.generator.name: fomm)")
        self.networks = {"conditioner": ctx.build_conditioner(), "generator": generator}
        self.uses_d = bool(self.d_terms) or any(t.name in DISCRIMINATOR_TERMS for t in self.g_terms)
        if self.uses_d:
            self.networks["discriminator"] = ctx.build_discriminator()
        else:
            self.optimizers = {"g": ("generator", "conditioner")}
        warps = {t.term.warp_options for t in self.g_terms if isinstance(t.term, _Equivariance)}
        if len(warps) > 1:
            raise ConfigError(f"loss.generator: {VALUE} and {JACOBIAN} must use the same warp options")
        self.warp = next(iter(warps), None)

    def prepare(self) -> None:
        ctx = self.ctx
        self.step_module = ctx.wrap(FommStep(self.networks["conditioner"], self.networks["generator"]))
        if self.uses_d:
            self.d_fwd = self.networks["discriminator"]
            self.d_train = ctx.wrap(self.d_fwd)

    def _generator_side(
        self, batch: dict[str, Any], accum: int, finite: Tensor, stats: StatsAccumulator
    ) -> tuple[Condition, Tensor]:
        ctx, step = self.ctx, self.ctx.step
        real = batch[TARGET]
        active_warp = (
            self.warp
            if any(isinstance(t.term, _Equivariance) and t.active(step) for t in self.g_terms)
            else None
        )
        with ctx.autocast():
            cond, fake, aux = self.step_module(batch, active_warp)
            d_fake, d_real = [], None
            if self.uses_d:
                d_fake = self.d_fwd(fake, cond)
                if any(t.term.needs_real_outputs for t in self.g_terms if t.active(step)):
                    with torch.no_grad():
                        d_real = self.d_fwd(real, cond.detach())
        discriminate = ctx.discriminate(self.d_fwd) if self.uses_d else _no_discriminator
        view = StepContext(step, ctx.config.loss.gan, batch, cond, real, fake, d_fake, discriminate, d_real,
                           aux={**cond.aux, **aux})  # fmt: skip
        ctx.backward_terms(loss_terms.evaluate(self.g_terms, view, "g_"), finite, stats, accum)
        return cond.detach(), fake.detach()

    def train_step(
        self, micro_batches: list[dict[str, Any]], averaged: Mapping[str, nn.Module]
    ) -> dict[str, float]:
        """Generator side (its terms) with D frozen, then D on real vs the detached fakes."""
        ctx, step = self.ctx, self.ctx.step
        accum = len(micro_batches)
        stats = StatsAccumulator(accum)
        d = self.networks.get("discriminator")
        ctx.zero_grad("g")
        g_finite = ctx.finite()
        kept = []
        with frozen(d) if d is not None else contextlib.nullcontext():
            for batch in micro_batches:
                kept.append(self._generator_side(batch, accum, g_finite, stats))
        ctx.apply("g", g_finite, stats)
        if d is None or not self.d_terms:
            return dict(stats)
        ctx.zero_grad("d")
        d_finite = ctx.finite()
        needs = loss_terms.requires_grad(self.d_terms, step)
        for batch, (cond, fake) in zip(micro_batches, kept):
            real = batch[TARGET].detach().requires_grad_("real" in needs)
            with ctx.autocast():
                d_fake, d_real = self.d_train(fake, cond), self.d_train(real, cond)
            view = StepContext(step, ctx.config.loss.gan, batch, cond, real, fake, d_fake,
                               ctx.discriminate(self.d_train), d_real, cond)  # fmt: skip
            ctx.backward_terms(loss_terms.evaluate(self.d_terms, view, "d_"), d_finite, stats, accum)
        ctx.apply("d", d_finite, stats)
        return dict(stats)

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, Any], averaged: Mapping[str, nn.Module], seed: int) -> Tensor:
        """Rows of (portrait | generated | target): the portrait animated by the target's keypoints."""
        gen = averaged.get("generator", self.networks["generator"])
        conditioner = self.networks["conditioner"]
        was_training = gen.training
        gen.eval()
        with self.ctx.autocast():
            cond = conditioner(batch)
            fake = gen(cond).float()
        gen.train(was_training)
        return torch.cat([batch["portrait"].float(), fake, batch[TARGET].float()], dim=3).clamp(-1, 1).cpu()


__all__ = ["EquivarianceJacobian", "EquivarianceValue", "FommRecipe", "Perceptual", "RandomWarp"]
