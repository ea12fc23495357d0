"""Config -> conditioner, generator, discriminator, through the registries (no if/elif factories)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from i2i.config import Config
from i2i.errors import ConfigError
from i2i.interfaces import Conditioner, Discriminator, Generator
from i2i.modality import Modality, resolve_object
from i2i.plugins import UnknownName, get_manager


def call_with_config(factory: Any, kwargs: Mapping[str, Any], where: str) -> Any:
    """Call a factory with config kwargs, turning a bad key into a one-line config error."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        params = signature.parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        unknown = [k for k in kwargs if k not in params]
        if unknown and not takes_any:
            accepted = ", ".join(p for p in params if p != "self")
            raise ConfigError(f"{where}: unknown parameter {unknown[0]!r} (accepts: {accepted})")
    try:
        return factory(**kwargs)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RuntimeError) as exc:
        # a value the factory cannot use (a string width, a negative depth): the config's fault
        text = " ".join(str(exc).split())[:160]
        raise ConfigError(
            f"{where}: {type(exc).__name__}: {text}" if not isinstance(exc, TypeError) else f"{where}: {text}"
        ) from None


def build_network(kind: str, section: Mapping[str, Any], where: str) -> nn.Module:
    kwargs = dict(section)
    name = kwargs.pop("name", None)
    if not name:
        raise ConfigError(f"{where}.name: no {kind} network named in the config")
    try:
        entry = get_manager().get_network(kind, name)
    except UnknownName as exc:
        raise ConfigError(f"{where}.name: {exc}") from None
    return call_with_config(resolve_object(entry.target), kwargs, f"{where} ({name})")


def build_conditioner(modality: Modality, config: Config) -> Conditioner:
    cls = resolve_object(modality.conditioner)
    return call_with_config(cls, dict(config.model.conditioner), "model.conditioner")


def build_generator(
    config: Config, section: Mapping[str, Any] | None = None, where: str = "model.generator"
) -> Generator:
    """The generator of `section` (default: the config's model.generator), wrapped for temporal
    mode when the config enables it."""
    net = build_network("generator", config.model.generator if section is None else section, where)
    if not isinstance(net, Generator):
        raise ConfigError(f"{where}: {type(net).__name__} is not an i2i Generator")
    if config.temporal.enabled:
        from i2i.temporal import TemporalGenerator

        net = TemporalGenerator(net, int(config.temporal.mask_channels))
    return net


def build_discriminator(
    config: Config, section: Mapping[str, Any] | None = None, where: str = "model.discriminator"
) -> Discriminator:
    net = build_network("discriminator", config.model.discriminator if section is None else section, where)
    if not isinstance(net, Discriminator):
        raise ConfigError(f"{where}: {type(net).__name__} is not an i2i Discriminator")
    return net
