"""A plugin's shipped models: their names, the default one, the file of one, and `PLUGIN:MODEL`.

A plugin declares the models it ships in its `Modality` (`models={"sr-x4": "pkg:weights/a.
safetensors", ...}`, `default_model="sr-x4"`), by package resource only, so its entry module
imports no torch. This module turns a name into a file for `i2i-run --model NAME`, `--then
PLUGIN:NAME` and `load_pipeline("PLUGIN:NAME")`, and describes them for `i2i plugins`. A model
may be declared before its file exists (one still being trained, or left out of a slim wheel):
listing marks it, and asking for it is one line, not a traceback from the loader.

This module imports no torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from i2i.errors import I2IError, InputError
from i2i.modality import DEFAULT_MODEL, Modality, resolve_resource


@dataclass(frozen=True)
class ShippedModel:
    """One model a plugin declares: its name, its file, whether it is the default, whether the
    file is installed."""

    name: str
    resource: str
    default: bool

    @property
    def path(self) -> Path:
        return resolve_resource(self.resource)

    @property
    def installed(self) -> bool:
        return self.path.is_file()

    def as_dict(self) -> dict[str, Any]:
        """What `i2i plugins --json` prints for the model."""
        return {
            "name": self.name,
            "default": self.default,
            "installed": self.installed,
            "file": str(self.path),
        }


def shipped_models(modality: Modality) -> list[ShippedModel]:
    """The models `modality` declares, in its order (empty when it ships none)."""
    return [ShippedModel(name, res, name == modality.default_model) for name, res in modality.models.items()]


def describe(models: Iterable[ShippedModel]) -> str:
    """`sr-x4 (default), colorize (not installed)`: the one-line list errors and listings show."""
    parts = []
    for m in models:
        default = m.default and m.name != DEFAULT_MODEL  # not "default (default)"
        notes = [n for n, on in (("default", default), ("not installed", not m.installed)) if on]
        parts.append(m.name + (f" ({', '.join(notes)})" if notes else ""))
    return ", ".join(parts) or "none"


def model_file(modality: Modality, name: str | None = None) -> Path:
    """The installed file of the model called `name` (None: the default) of `modality`.

    An unknown name, a plugin that ships no model, and a declared model whose file is not
    installed are each an `I2IError` of one line that lists what is available."""
    models = shipped_models(modality)
    if not models:
        raise I2IError(f"plugin {modality.name} ships no model: pass --checkpoint")
    key = modality.default_model if name is None else name
    found = next((m for m in models if m.name == key), None)
    if found is None:
        raise I2IError(f"unknown model {name!r} for plugin {modality.name} (available: {describe(models)})")
    if not found.installed:
        raise InputError(
            found.path,
            f"model {found.name!r} of plugin {modality.name} is declared but its file is not installed "
            f"(available: {describe(models)})",
        )
    return found.path


def split_spec(text: str, modalities: Mapping[str, Modality]) -> tuple[str, str | None] | None:
    """`PLUGIN:MODEL` (or a bare `PLUGIN`, its default) -> (plugin, model or None); None when the
    text names no installed plugin that way, or is an existing path (a path always wins)."""
    if Path(text).exists():
        return None
    plugin, sep, model = text.partition(":")
    if plugin not in modalities:
        return None
    return plugin, (model or None) if sep else None
