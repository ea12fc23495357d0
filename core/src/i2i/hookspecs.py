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
