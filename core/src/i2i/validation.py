"""Checking a plugin's own config values before training starts (`Modality.validate_config`).

The core checks the shape of a config (known keys, value types, see `i2i.config`); what a value
*means* only the plugin knows (that `data.task` is one of its tasks, that a masks folder exists).
A plugin names a validator, `validate_config="pkg.module:validate"`, a function
`validate(config: i2i.config.Config) -> None` that raises `i2i.errors.ConfigError` with one line
naming the key (`one_of` and `at_least` below write such lines). The core calls it through
`validate(modality, config)` with the resolved config (defaults, `--config`, `--set` applied),
before anything is trained or written: `i2i-train` does, so a bad value is one line and exit
status 2, not a traceback after the first steps.

Imports no torch: it runs before the engine is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from i2i.config import get_dotted
from i2i.errors import ConfigError
from i2i.modality import Modality, resolve_object


def validate(modality: Modality, config: Mapping[str, Any]) -> None:
    """Run the modality's config validator, if it names one, on the resolved config.

    A validator should raise ConfigError; a ValueError, TypeError or KeyError it lets escape (a
    value it could not read) is turned into a one-line ConfigError naming the plugin."""
    if not modality.validate_config:
        return
    check = resolve_object(modality.validate_config)
    try:
        check(config)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"plugin {modality.name}: config rejected: {type(exc).__name__}: {exc}") from None


def lookup(config: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key ("data.task"), or ConfigError naming the key when it is absent."""
    try:
        return get_dotted(config, key)
    except KeyError:
        raise ConfigError(f"{key}: missing from the config") from None


def one_of(config: Mapping[str, Any], key: str, choices: Iterable[Any]) -> Any:
    """The value at `key` if it is one of `choices`, else a one-line ConfigError naming the key."""
    value = lookup(config, key)
    allowed = list(choices)
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, allowed))}")
    return value


def at_least(config: Mapping[str, Any], key: str, minimum: float) -> float:
    """The number at `key` if it is at least `minimum`, else a one-line ConfigError naming the key."""
    value = lookup(config, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{key}: {value!r} must be a number of at least {minimum:g}")
    return value
