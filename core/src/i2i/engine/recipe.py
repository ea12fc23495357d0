"""Recipes: which networks a training step updates, with which optimisers, in which order.

The trainer (`i2i.engine.trainer`) owns everything a recipe must not care about: device,
precision, channels_last, torch.compile, DDP, EMA, the learning-rate schedule, NaN guards,
SIGTERM, checksummed atomic checkpoints and bit-exact resume. A recipe only

- builds its networks (`self.networks`, a name -> nn.Module dict, all saved in run states);
- names its optimisers (`optimizers`: optimiser name -> the networks it updates; learning rate
  and betas come from ``optim.lr_<name>`` and ``optim.betas_<name>``);
- runs one step (`train_step`), using the `RecipeContext` for precision, backward, optimiser
  steps and loss terms;
- says what the model file holds (`model_modules`) and draws the sample sheet (`sample_grid`).

The original CycleGAN's `optimize_parameters` (both generators with D frozen, then both
discriminators from image pools) and Lightning's manual optimisation are the model: a recipe is
just "which networks, which optimisers, in which order". Register one with the
`register_recipes` hook and select it with ``recipe: NAME`` in a config.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from i2i import terms as loss_terms
from i2i.config import Config
from i2i.engine import distributed
from i2i.engine.device import Precision
from i2i.modality import Modality


@dataclass
class RecipeContext:
    """What the engine lends a recipe: the config, the device and precision, and the services
    whose behaviour must be the same for every recipe (backward with the grad scaler, optimiser
    steps behind the all-ranks NaN guard, DDP wrapping, compile, loss terms)."""

    config: Config
    modality: Modality
    device: torch.device
    precision: Precision
    world: distributed.World
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    scaler: torch.amp.GradScaler | None = None
    step: int = 0
    stepped: set[str] = field(default_factory=set)  # optimisers applied in this step

    # ---- building ------------------------------------------------------------------------
    def build_conditioner(self) -> nn.Module:
        """The modality's conditioner, built with ``model.conditioner`` as keyword arguments."""
        from i2i.engine.build import build_conditioner

        return build_conditioner(self.modality, self.config)

    def build_generator(
        self, section: Mapping[str, Any] | None = None, where: str = "model.generator"
    ) -> nn.Module:
        """The config's generator (temporal wrapper included), or one from another section."""
        from i2i.engine.build import build_generator

        return build_generator(self.config, section, where)

    def build_discriminator(
        self, section: Mapping[str, Any] | None = None, where: str = "model.discriminator"
    ) -> nn.Module:
        """The config's discriminator, or one from another section (a second domain's D)."""
        from i2i.engine.build import build_discriminator

        return build_discriminator(self.config, section, where)

    def terms(self, side: str) -> list[loss_terms.WeightedTerm]:
        """The configured loss terms of one side (``loss.generator`` / ``loss.discriminator``),
        on this device."""
        built = loss_terms.build_terms(
            side, self.config.loss[side].to_dict() if side in self.config.loss else {}
        )
        for t in built:
            t.term.to(self.device)
        return built

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP around what one optimiser trains (identity in one process)."""
        return distributed.wrap(module, self.world, self.device)

    def compile(self, module: nn.Module) -> nn.Module:
        """torch.compile when ``train.compile`` is on; the module itself otherwise."""
        return torch.compile(module) if self.config.train.compile else module

    # ---- one step ------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Forward passes of the step run inside this: the run's precision (fp32, bf16, fp16)."""
        return self.precision.autocast(self.device)

    def discriminate(self, module: nn.Module) -> Callable[[Tensor, Any], Any]:
        """`module(image, cond)` under the step's precision: what a StepContext's `discriminate`
        gives the terms that need another verdict."""

        def run(image: Tensor, cond: Any) -> Any:
            with self.autocast():
                return module(image, cond)

        return run

    def noise(self, batch_size: int, dim: int) -> Tensor | None:
        """z for a generator with `noise_dim` dim (None for none); the engine seeds every step."""
        return torch.randn(batch_size, dim, device=self.device) if dim else None

    def zero_grad(self, name: str) -> None:
        """Clear optimiser `name`'s gradients (to None) before its backward passes."""
        self.optimizers[name].zero_grad(set_to_none=True)

    def backward(self, loss: Tensor) -> None:
        """Backward through the fp16 grad scaler when there is one, so recipes never see it."""
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def backward_terms(
        self, values: Mapping[str, Tensor], finite: Tensor, stats: StatsAccumulator, micro_batches: int = 1
    ) -> None:
        """One micro-batch of one side: sum its weighted terms, log them, fold their finiteness
        into `finite` (in place) and backward the sum divided by the number of micro-batches."""
        loss = loss_terms.total(values, self.device)
        stats.add(values)
        finite &= torch.isfinite(loss.detach())
        self.backward(loss / micro_batches)

    def finite(self) -> Tensor:
        """A fresh all-finite flag to AND each backward's loss into (a device tensor: no sync)."""
        return torch.ones((), dtype=torch.bool, device=self.device)

    def apply(self, name: str, finite: Tensor, stats: dict[str, float]) -> bool:
        """Step optimiser `name` if every rank's losses were finite; otherwise drop the gradients
        and record `skipped_<name>` (the engine stops after too many in a row)."""
        if not distributed.all_ranks(finite, self.world):
            stats[f"skipped_{name}"] = 1.0
            return False
        opt = self.optimizers[name]
        if self.scaler:
            self.scaler.step(opt)
        else:
            opt.step()
        self.stepped.add(name)
        return True


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Parameters of these modules do not collect gradients inside the block (D during the G step)."""
    for m in modules:
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m in modules:
            m.requires_grad_(True)


class StatsAccumulator(dict[str, float]):
    """Per-step statistics averaged over micro-batches (what the engine logs)."""

    def __init__(self, micro_batches: int) -> None:
        super().__init__()
        self.micro = micro_batches

    def add(self, values: Mapping[str, Tensor]) -> None:
        """Add one micro-batch's values (each divided by the number of micro-batches)."""
        for name, value in values.items():
            self[name] = self.get(name, 0.0) + float(value.detach()) / self.micro


class Recipe(ABC):
    """Base class of training recipes (see the module docstring)."""

    name: ClassVar[str] = ""
    optimizers: ClassVar[Mapping[str, Sequence[str]]] = {}
    ema: ClassVar[Sequence[str]] = ()  # networks that get an EMA copy when ema.decay > 0
    sync_batchnorm: ClassVar[Sequence[str]] = ()  # networks converted under train.sync_batchnorm

    def __init__(self, ctx: RecipeContext) -> None:
        self.ctx = ctx
        self.networks: dict[str, nn.Module] = {}

    def prepare(self) -> None:
        """Called once the networks are on the device in their memory format and before the
        optimisers exist: build compiled / DDP-wrapped forward modules here. Default: nothing."""
        return

    def noise_dim(self, network: str = "generator") -> int:
        """Length of z the network takes (its `noise_dim`; 0 for none)."""
        return int(self.networks[network].noise_dim)

    @abstractmethod
    def train_step(
        self, micro_batches: list[dict[str, Any]], averaged: Mapping[str, nn.Module]
    ) -> dict[str, float]:
        """One optimisation step over `micro_batches` (gradient accumulation); returns the stats
        to log. `averaged` holds the EMA copies (read-only)."""

    def model_modules(self, averaged: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
        """What `model.safetensors` holds, by name: the pipeline rebuilds the `generator` and
        `conditioner` entries from the config. Default: the EMA copy of `generator` where there
        is one, else the live one, and the conditioner."""
        return {"generator": averaged.get("generator", self.networks["generator"]),
                "conditioner": self.networks["conditioner"]}  # fmt: skip

    @abstractmethod
    def sample_grid(self, batch: dict[str, Any], averaged: Mapping[str, nn.Module], seed: int) -> Tensor:
        """(B,3,H,W*k) rows of the sample sheet for a fixed held-out batch, in [-1, 1], on the CPU."""

    def extra_state(self) -> dict[str, Any]:
        """Recipe state that is not a network or optimiser (image pools), saved in run states."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore `extra_state` on resume. Default: there is none."""
        return


def recipe_class(name: str) -> Callable[[RecipeContext], Recipe]:
    """The Recipe class registered as `name` (a config's ``recipe:``); unknown or not a Recipe is
    a one-line ConfigError."""
    from i2i.errors import ConfigError
    from i2i.modality import resolve_object
    from i2i.plugins import UnknownName, get_manager

    try:
        entry = get_manager().get_recipe(name)
    except UnknownName as exc:
        raise ConfigError(f"recipe: {exc}") from None
    cls = resolve_object(entry.target)
    if not (isinstance(cls, type) and issubclass(cls, Recipe)):
        raise ConfigError(f"recipe: {name!r} is not an i2i Recipe")
    return cls
