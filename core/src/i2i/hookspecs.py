"""Typed hook specifications. These docstrings are the hook reference (docs/hooks.md mirrors them,
and a meta-test checks that every hook here is documented and exercised by a test)."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from i2i.modality import Modality

PROJECT = "i2i"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

RegisterModality = Callable[[Modality], None]
RegisterNetwork = Callable[..., None]


@hookspec
def register_modalities(register: RegisterModality) -> None:
    """Register the condition types (modalities) a plugin provides.

    Call ``register(Modality(...))`` once per modality. Names must be unique across all installed
    plugins; a duplicate is reported against the second plugin and that modality is ignored.
    Do not import torch here: this hook runs for `i2i plugins` and `i2i-run --help`.
    """


@hookspec
def register_networks(register: RegisterNetwork) -> None:
    """Register named networks that configs can select.

    Call ``register(name, target, kind="generator"|"discriminator")`` where target is an import
    string "package.module:factory" (resolved only when a model is built) or a callable. The
    factory is called with the keyword arguments of the config's ``model.generator`` or
    ``model.discriminator`` section (minus ``name``); unknown keyword arguments are config errors.
    """


RegisterLossTerm = Callable[..., None]
RegisterRecipe = Callable[..., None]


@hookspec
def register_loss_terms(register: RegisterLossTerm) -> None:
    """Register named loss terms that configs list under ``loss.generator`` / ``loss.discriminator``.

    Call ``register(name, target, side="generator"|"discriminator", legacy=None)``. target is an
    import string "package.module:factory" (resolved only when training starts) or a callable
    returning an ``i2i.terms.LossTerm``; the factory is called with the term's options from the
    config (everything but ``weight`` and ``every``). The same name may be registered once per
    side. ``legacy`` maps keys of the old flat ``loss`` section to this term (``{"r1":
    "weight", "r1_every": "every"}``: old key -> ``weight``, ``every`` or an option), so configs
    and model files written before terms existed keep loading.
    """


@hookspec
def register_recipes(register: RegisterRecipe) -> None:
    """Register named training recipes that configs select with ``recipe: NAME``.

    Call ``register(name, target)`` where target is an import string "package.module:Class" of
    an ``i2i.engine.recipe.Recipe`` subclass (or the class). A recipe names the networks and
    optimisers a training step updates and runs the step; the engine keeps precision, EMA,
    checkpoints, resume, distribution and logging the same for every recipe. The core registers
    ``paired`` (one generator, one discriminator: pix2pix, SPADE, DF-GAN ...).
    """
