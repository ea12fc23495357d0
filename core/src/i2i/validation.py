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

ENGINE_RANGES: dict[str, tuple[float, float]] = {
    "train.steps": (0, 10**9),
    "train.batch_size": (1, 65536),
    "train.grad_accum": (1, 65536),
    "train.num_workers": (0, 256),
    "train.log_every": (1, 10**9),
    "train.sample_every": (1, 10**9),
    "train.checkpoint_every": (1, 10**9),
    "train.keep_last": (1, 10**6),
    "train.max_nonfinite": (1, 10**9),
    "optim.lr_g": (0, 10),
    "optim.lr_d": (0, 10),
    "optim.decay_from": (0, 1),
    "ema.decay": (0, 1),
    "ema.start": (0, 10**9),
}
"""The engine's numeric keys and the ranges it can run with: a value outside (`log_every: 0`
divides by zero after the first step, `batch_size: 10**9` allocates without bound) is one
line before anything trains."""


def validate_engine(config: Mapping[str, Any]) -> None:
    """The engine's own keys within `ENGINE_RANGES` (ConfigError naming the key)."""
    for key, (low, high) in ENGINE_RANGES.items():
        try:
            value = get_dotted(config, key)
        except KeyError:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ConfigError(f"{key}: {value!r} must be a number from {low:g} to {high:g}")


def validate(modality: Modality, config: Mapping[str, Any]) -> None:
    """Check the engine's ranges (`validate_engine`), then run the modality's config validator,
    if it names one, on the resolved config.

    A validator should raise ConfigError; a ValueError, TypeError or KeyError it lets escape (a
    value it could not read) is turned into a one-line ConfigError naming the plugin."""
    validate_engine(config)
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
