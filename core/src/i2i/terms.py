"""Loss terms: named, registered components that a recipe sums with the weights of the config.

A term is a small object that sees one step's `StepContext` and returns a scalar. The config lists
the terms of each side (``loss.generator``, ``loss.discriminator``) as ``name: weight`` or
``name: {weight: w, every: n, <option>: ...}``; options are the term factory's keyword
arguments, checked against its signature like a network's. ``every: n`` applies the term on every
n-th step with n times the weight (lazy regularisation, StyleGAN2), for any term.
The engine logs each term (weighted) as ``g_<name>`` / ``d_<name>``. Core terms are registered
by the core's own built-in plugin (`i2i.nets.catalog`); a plugin adds its own through the
`register_loss_terms` hook, exactly like networks (imaginaire keeps `criteria[name]` and
`weights[name]` the same way).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i import losses
from i2i.errors import ConfigError
from i2i.interfaces import Condition, DOutput

SIDES = ("generator", "discriminator")
RESERVED_OPTIONS = ("weight", "every")


@dataclass
class StepContext:
    """What a loss term sees of one training step (one micro-batch, one translation direction).

    On the discriminator side `fake` and `cond` are detached, `d_fake` / `d_real` are D's outputs
    on (fake, cond) and (real, cond_real); `real` and the fields of `cond_real` that a term listed
    in `requires_grad` require grad. On the generator side `d_fake` is D's verdict on the live
    fake (gradients flow to G) and `d_real` is filled (without gradients) only when a term sets
    `needs_real_outputs`. `aux` holds the conditioner's auxiliary outputs (`Condition.aux`, e.g. a
    style encoder's mu/logvar) plus what the recipe adds (the cycle recipe: `reconstruction`,
    `identity`). `discriminate(image, cond)` runs the side's discriminator under the step's
    precision, for terms that need another verdict (e.g. real images with rolled conditions).
    """

    step: int
    gan: str
    batch: Mapping[str, Any]
    cond: Condition
    real: Tensor
    fake: Tensor
    d_fake: Sequence[DOutput]
    discriminate: Callable[[Tensor, Condition], Sequence[DOutput]]
    d_real: Sequence[DOutput] | None = None
    cond_real: Condition | None = None
    aux: Mapping[str, Tensor] = field(default_factory=dict)


class LossTerm(nn.Module, ABC):
    """A loss term. Subclass, implement `forward(ctx) -> scalar`, register it by name and side.

    An nn.Module so that a term with weights (VGG) moves with the networks; most have none.
    requires_grad (discriminator side): inputs that must require grad before D sees the real
    pair, "real" and/or Condition field names such as "vector" (gradient penalties).
    needs_real_outputs (generator side): the term reads D's outputs on the real pair.
    """

    requires_grad: ClassVar[tuple[str, ...]] = ()
    needs_real_outputs: ClassVar[bool] = False

    @abstractmethod
    def forward(self, ctx: StepContext) -> Tensor:
        """The term's value for this step (a scalar; the engine applies the weight)."""


# ---- the core's terms ------------------------------------------------------------------------
class AdversarialG(LossTerm):
    """Make D call the fakes real (criterion `loss.gan`: vanilla, lsgan or hinge)."""

    def forward(self, ctx: StepContext) -> Tensor:
        return losses.g_loss(ctx.gan, ctx.d_fake)


class AdversarialD(LossTerm):
    """D's losses on real and fake images, each weighted by half (the pix2pix/CycleGAN
    convention). `real` / `fake` reweight the two sides, e.g. a loss of the form real + (fake + x) / 2
    is ``{real: 0.5, fake: 0.25}`` beside a plugin term x of weight 0.25."""

    def __init__(self, real: float = 0.5, fake: float = 0.5) -> None:
        super().__init__()
        self.real_share, self.fake_share = float(real), float(fake)

    def forward(self, ctx: StepContext) -> Tensor:
        assert ctx.d_real is not None
        fake = losses.d_loss(ctx.gan, ctx.d_fake, real=False)
        return self.fake_share * fake + self.real_share * losses.d_loss(ctx.gan, ctx.d_real, True)


class L1(LossTerm):
    """L1 between the fake and the real image it should reproduce (paired data)."""

    def forward(self, ctx: StepContext) -> Tensor:
        return F.l1_loss(ctx.fake.float(), ctx.real.float())


class FeatureMatching(LossTerm):
    """L1 between D's features of fake and real images (pix2pixHD)."""

    needs_real_outputs = True

    def forward(self, ctx: StepContext) -> Tensor:
        assert ctx.d_real is not None
        return losses.feature_matching(ctx.d_fake, ctx.d_real)


class VGG(LossTerm):
    """VGG19 perceptual loss (needs torchvision's VGG19 weights in the torch hub cache)."""

    def __init__(self) -> None:
        super().__init__()
        from i2i.nets.vgg import load_vgg_loss

        self.vgg = load_vgg_loss()

    def forward(self, ctx: StepContext) -> Tensor:
        return self.vgg(ctx.fake, ctx.real)


class R1(LossTerm):
    """R1 gradient penalty on real images (Mescheder et al. 2018)."""

    requires_grad = ("real",)

    def forward(self, ctx: StepContext) -> Tensor:
        assert ctx.d_real is not None
        return losses.r1_penalty(ctx.d_real, ctx.real)


class AuxL1(LossTerm):
    """L1 between an auxiliary output of the recipe and an image of the step: `key` names the
    aux entry, `against` "real" (the step's target domain) or "source" (aux["source"]): a
    cycle-consistency term is `AuxL1("reconstruction", "source")`."""

    def __init__(self, key: str, against: str = "real") -> None:
        super().__init__()
        if against not in ("real", "source"):
            raise ValueError(f"against must be 'real' or 'source', not {against!r}")
        self.key, self.against = key, against

    def forward(self, ctx: StepContext) -> Tensor:
        target = ctx.real if self.against == "real" else ctx.aux["source"]
        return F.l1_loss(ctx.aux[self.key].float(), target.float())


# ---- building a side's terms from the config ----------------------------------------------------
@dataclass
class WeightedTerm:
    """One configured term: its name, the module, its weight and lazy interval."""

    name: str
    term: LossTerm
    weight: float
    every: int = 1

    def active(self, step: int) -> bool:
        return self.weight != 0 and step % self.every == 0

    @property
    def scale(self) -> float:
        return self.weight * self.every


def _split(name: str, value: Any, where: str) -> tuple[float, int, dict[str, Any]]:
    if isinstance(value, bool) or not isinstance(value, (int, float, Mapping)):
        raise ConfigError(f"{where}.{name}: a weight or a mapping with 'weight', got {value!r}")
    if not isinstance(value, Mapping):
        return float(value), 1, {}
    options = dict(value)
    weight = options.pop("weight", 1.0)
    every = options.pop("every", 1)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise ConfigError(f"{where}.{name}.weight: must be a number, got {weight!r}")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ConfigError(f"{where}.{name}.every: must be an integer >= 1, got {every!r}")
    return float(weight), every, options


def build_terms(side: str, section: Mapping[str, Any], where: str | None = None) -> list[WeightedTerm]:
    """Terms with a non-zero weight, built through the registry (unknown names and options are
    one-line config errors naming the key)."""
    from i2i.engine.build import call_with_config
    from i2i.modality import resolve_object
    from i2i.plugins import UnknownName, get_manager

    where = where or f"loss.{side}"
    out = []
    for name, value in section.items():
        weight, every, options = _split(name, value, where)
        if weight == 0:
            continue
        try:
            entry = get_manager().get_loss_term(side, name)
        except UnknownName as exc:
            raise ConfigError(f"{where}.{name}: {exc}") from None
        term = call_with_config(resolve_object(entry.target), options, f"{where}.{name}")
        if not isinstance(term, LossTerm):
            raise ConfigError(f"{where}.{name}: {type(term).__name__} is not an i2i LossTerm")
        out.append(WeightedTerm(name, term, weight, every))
    return out


def requires_grad(terms: Sequence[WeightedTerm], step: int) -> set[str]:
    """What the active terms of this step need to require grad before D sees the real pair."""
    return {need for t in terms if t.active(step) for need in t.term.requires_grad}


def evaluate(terms: Sequence[WeightedTerm], ctx: StepContext, prefix: str) -> dict[str, Tensor]:
    """Weighted value of every term active at this step, by logged name (prefix + name)."""
    return {f"{prefix}{t.name}": t.scale * t.term(ctx).float() for t in terms if t.active(ctx.step)}


def total(values: Mapping[str, Tensor], device: torch.device) -> Tensor:
    """The side's loss: the sum of its weighted terms (zero when none is active this step)."""
    if not values:
        return torch.zeros((), device=device)
    return torch.stack(list(values.values())).sum()
