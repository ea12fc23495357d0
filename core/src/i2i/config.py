"""YAML -> typed, validated config.

The schema is the defaults themselves: engine defaults (configs/engine.yaml) merged with the
plugin's YAML. Overrides (`--config FILE|PRESET`, `--set a.b=c`) may only touch keys that exist
and must keep each value's type, so a typo is an error, never a silently ignored option.
Network sections (`model.generator`, `model.discriminator`) are open: their keys are the network
factory's parameters, checked against its signature when the model is built; an override that
changes a network's `name` replaces the section instead of merging into it.
The resolved config is saved as YAML in the run directory and as JSON in every checkpoint.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from i2i.errors import ConfigError
from i2i.modality import Modality, resolve_resource

ENGINE_DEFAULTS = "i2i:configs/engine.yaml"
OPEN_SECTIONS = ("model.generator", "model.discriminator", "model.conditioner")
TERM_SECTIONS = ("loss.generator", "loss.discriminator")  # keys are registered loss-term names
LOSS_KEYS = ("gan", "generator", "discriminator")


class Config(Mapping[str, Any]):
    """Read-only nested mapping with attribute access (`cfg.train.steps`)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return Config(value) if isinstance(value, dict) else value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def to_json(self) -> str:
        return json.dumps(self._data, sort_keys=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self._data, sort_keys=False)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values")
    return data


def parse_value(text: str) -> Any:
    """`--set` values are YAML scalars or flow collections: 3, 0.5, true, null, [0.5, 0.9], abc."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def reference(value: Any) -> str | None:
    """The dotted key of a `${a.b}` reference, or None. A reference makes one setting follow
    another (e.g. every network's channel count follows `data.num_classes`), so a user changes
    one key, not three that must agree."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1].strip()
    return None


def get_dotted(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted key ("data.task"); KeyError(dotted) when any part is absent."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def _lookup(data: Mapping[str, Any], dotted: str, where: str) -> Any:
    try:
        return get_dotted(data, dotted)
    except KeyError:
        raise ConfigError(f"{where}: refers to unknown config key {dotted!r}") from None


MAX_REFERENCE_CHAIN = 32
"""The longest chain of `${a.b}` references followed (a -> b -> c ...); real configs use one or two."""
MAX_RESOLVED_VALUES = 200_000
"""The most values a config may hold once its references are resolved: each reference counts the
values it brings, so a config cannot grow exponentially (a key referring twice to one referring
twice to ...) however small its text; real configs hold a few hundred."""


def resolve_references(data: dict[str, Any]) -> dict[str, Any]:
    """Replace every `${a.b}` value by the value at a.b (which may itself be a reference).

    Each key is resolved once and remembered; chains, cycles and the resolved size are bounded
    (`MAX_REFERENCE_CHAIN`, `MAX_RESOLVED_VALUES`), so a hostile config from a model file costs
    milliseconds and a ConfigError, not minutes and all memory.
    """
    memo: dict[str, tuple[Any, int]] = {}
    budget = [MAX_RESOLVED_VALUES]

    def spend(n: int, where: str) -> None:
        budget[0] -= n
        if budget[0] < 0:
            raise ConfigError(
                f"{where or 'config'}: more than {MAX_RESOLVED_VALUES:,} values once references are resolved"
            )

    def resolve(value: Any, where: str, seen: tuple[str, ...]) -> tuple[Any, int]:
        target = reference(value)
        if target is None:
            if isinstance(value, dict):
                out, n = {}, 1
                for k, v in value.items():
                    out[k], m = resolve(v, f"{where}.{k}" if where else k, seen)
                    n += m
                return out, n
            spend(1, where)
            return value, 1
        if target in seen:
            raise ConfigError(f"{where}: circular reference through {target!r}")
        if len(seen) >= MAX_REFERENCE_CHAIN:
            raise ConfigError(f"{where}: references chained more than {MAX_REFERENCE_CHAIN} deep")
        if target in memo:
            result, n = memo[target]
            spend(n, where)
            return copy.deepcopy(result) if isinstance(result, dict) else result, n
        memo[target] = resolve(_lookup(data, target, where), target, (*seen, target))
        return memo[target]

    try:
        return resolve(data, "", ())[0]
    except RecursionError:
        raise ConfigError("config: nested too deeply") from None


def _type_ok(default: Any, value: Any) -> bool:
    if isinstance(default, dict):  # a section stays a section (`train: null` would break every key)
        return isinstance(value, dict)
    if default is None or reference(default) is not None:
        return True
    if value is None:  # `steps:` with nothing after it: a key left empty, not a choice of "none"
        return False
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    if isinstance(default, dict):
        return isinstance(value, dict)
    return isinstance(value, type(default))


def _coerce(default: Any, value: Any) -> Any:
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def merge(base: dict[str, Any], override: Mapping[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    """Merge `override` into a copy of `base`, refusing unknown keys and type changes."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if dotted in TERM_SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {dotted} must be a mapping of loss-term names to weights")
            out[key] = _merge_terms(out.get(key) or {}, value)
            continue
        if dotted in OPEN_SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {dotted} must be a mapping")
            current = out.get(key) or {}
            if "name" in value and value["name"] != current.get("name"):
                out[key] = copy.deepcopy(value)
            else:
                out[key] = {**current, **copy.deepcopy(value)}
            continue
        if key not in out:
            known = ", ".join(sorted(out)) or "none"
            raise ConfigError(f"{source}: unknown config key {dotted!r} (known here: {known})")
        default = out[key]
        if isinstance(default, dict) and isinstance(value, dict):
            out[key] = merge(default, value, source, dotted + ".")
        elif not _type_ok(default, value):
            raise ConfigError(
                f"{source}: {dotted} must be {type(default).__name__}, got {type(value).__name__} {value!r}"
            )
        else:
            out[key] = _coerce(default, copy.deepcopy(value))
    return out


def _merge_terms(current: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A term given as a mapping updates the options it names (`--set loss.discriminator.r1.every=8`
    keeps the weight); a bare number replaces the weight and keeps the options."""
    out = copy.deepcopy(dict(current))
    for name, value in override.items():
        old = out.get(name)
        if isinstance(value, dict) and isinstance(old, dict):
            out[name] = {**old, **copy.deepcopy(value)}
        elif isinstance(value, dict) and isinstance(old, (int, float)) and not isinstance(old, bool):
            out[name] = {"weight": old, **copy.deepcopy(value)}
        elif isinstance(old, dict) and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = {**old, "weight": value}
        else:
            out[name] = copy.deepcopy(value)
    return out


def _legacy_loss_keys() -> dict[str, list[tuple[str, str, str]]]:
    """old flat `loss.<key>` -> [(side, term, option)] from the registered terms' `legacy` maps."""
    from i2i.plugins import get_manager

    table: dict[str, list[tuple[str, str, str]]] = {}
    for entry in get_manager().loss_terms():
        for old, option in entry.legacy:
            table.setdefault(old, []).append((entry.side, entry.name, option))
    return table


def migrate(data: Mapping[str, Any], source: str, strict: bool = True) -> dict[str, Any]:
    """A config written before loss terms existed (flat `loss.l1: 100`, `loss.gan_weight`, a
    plugin's own keys ...) in today's form (`loss.generator.l1: 100`). Registered terms say
    which old keys are theirs (`legacy=` of `register_loss_terms`). An old key no term claims is an
    error in a config the user gives (strict) and dropped from a saved one (its plugin is gone)."""
    out = copy.deepcopy(dict(data))
    loss = out.get("loss")
    if not isinstance(loss, dict) or all(k in LOSS_KEYS for k in loss):
        return out
    table = _legacy_loss_keys()
    new = {k: v for k, v in loss.items() if k in LOSS_KEYS}
    for key, value in loss.items():
        if key in LOSS_KEYS:
            continue
        if key not in table:
            if strict:
                raise ConfigError(f"{source}: unknown config key 'loss.{key}' (loss terms now live under "
                                  "loss.generator / loss.discriminator)")  # fmt: skip
            continue
        for side, name, option in table[key]:
            terms = new.setdefault(side, {})
            current = terms.get(name)
            entry = (
                dict(current)
                if isinstance(current, dict)
                else {"weight": 1.0 if current is None else current}
            )
            entry[option] = value
            terms[name] = entry
    for side in ("generator", "discriminator"):  # {weight: w} alone reads better as w
        for name, entry in list(new.get(side, {}).items()):
            if isinstance(entry, dict) and set(entry) == {"weight"}:
                new[side][name] = entry["weight"]
    out["loss"] = new
    return out


def legacy_set(dotted: str, value: Any, source: str) -> tuple[str, Any]:
    """`--set loss.l1=100` (the old key) as `--set loss.generator.l1=100`."""
    parts = dotted.split(".")
    if len(parts) == 2 and parts[0] == "loss" and parts[1] not in LOSS_KEYS:
        claims = _legacy_loss_keys().get(parts[1], [])
        if len(claims) == 1:
            side, name, option = claims[0]
            return (f"loss.{side}.{name}" if option == "weight" else f"loss.{side}.{name}.{option}"), value
    return dotted, value


def _deep_union(base: dict[str, Any], extra: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Plugin defaults extend the engine schema (new keys allowed) and override its values; a
    network section the plugin gives replaces the engine's (its keys are another network's)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        dotted = f"{prefix}{key}"
        if isinstance(out.get(key), dict) and isinstance(value, dict) and dotted not in OPEN_SECTIONS:
            out[key] = _deep_union(out[key], value, dotted + ".")
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_override(dotted: str, value: Any) -> dict[str, Any]:
    """`a.b.c=v` -> {"a": {"b": {"c": v}}}."""
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"--set {dotted}: empty key part")
    out: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        out = {part: out}
    return out


def parse_sets(items: Iterable[str]) -> list[tuple[str, Any]]:
    pairs = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value")
        pairs.append((key.strip(), parse_value(raw)))
    return pairs


def defaults_for(modality: Modality) -> dict[str, Any]:
    engine = read_yaml(resolve_resource(ENGINE_DEFAULTS))
    plugin = migrate(read_yaml(resolve_resource(modality.config)), modality.config)
    data = _deep_union(engine, plugin)
    data["plugin"] = modality.name
    return data


def load_config(
    modality: Modality,
    config: str | Path | None = None,
    sets: Iterable[str] = (),
    imported: Mapping[str, Any] | None = None,
) -> Config:
    """Resolve the full config of a run: defaults <- preset/--config file <- --set overrides.

    `imported` (from `i2i.engine.init`, for `--init`) holds what a checkpoint's weights decide:
    its data conventions go under the preset (which may change them), its model sections over it
    (the weights fix the architecture); `--set` still has the last word.
    """
    data = defaults_for(modality)
    if imported:
        data = merge(data, {k: v for k, v in imported.items() if k != "model"}, "the --init checkpoint")
    if config is not None:
        config = str(config)
        if config in modality.presets:
            path = resolve_resource(modality.presets[config])
        else:
            path = Path(config)
            if not path.exists():
                presets = ", ".join(sorted(modality.presets)) or "none"
                raise ConfigError(f"{config}: no such config file or preset (presets: {presets})")
        override = migrate(read_yaml(path), str(path))
        override_plugin = override.get("plugin")
        if "plugin" in override and override.pop("plugin") != modality.name:
            raise ConfigError(f"{path}: this config is for plugin {override_plugin!r}, not {modality.name!r}")
        data = merge(data, override, str(path))
    for section, value in (imported or {}).get("model", {}).items():
        data["model"][section] = copy.deepcopy(value)
    data = apply_sets(data, sets)
    return Config(resolve_references(data))


def apply_sets(data: dict[str, Any], sets: Iterable[str]) -> dict[str, Any]:
    """`--set key=value` overrides, in order (old loss keys migrated)."""
    for key, value in parse_sets(sets):
        new_key, value = legacy_set(key, value, f"--set {key}")
        data = merge(data, set_override(new_key, value), f"--set {key}")
    return data


def check_saved_types(
    defaults: Mapping[str, Any], saved: Mapping[str, Any], source: str, prefix: str = ""
) -> None:
    """Every saved value of a key today's defaults know has the default's type (a section stays a
    section, a number a number). A config read from a file the user did not write (a downloaded
    model) reaches network constructors and the pipeline: `"model": "x"` or `"steps": "5"` must be
    one ConfigError naming the key, not an AttributeError deep inside. Keys the defaults do not
    know (a newer version's, a network's own options) are left to their consumers."""
    for key, value in saved.items():
        dotted = f"{prefix}{key}"
        if key not in defaults or dotted in TERM_SECTIONS:
            continue
        default = defaults[key]
        if dotted in OPEN_SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {dotted} must be a mapping, got {type(value).__name__}")
            continue
        if isinstance(default, dict) and isinstance(value, dict):
            check_saved_types(default, value, source, dotted + ".")
        elif reference(value) is None and not _type_ok(default, value):
            raise ConfigError(
                f"{source}: {dotted} must be {type(default).__name__}, got {type(value).__name__} {str(value)[:40]!r}"
            )


def with_new_defaults(
    modality: Modality, saved: Mapping[str, Any], source: str = "saved config"
) -> dict[str, Any]:
    """A config saved by an older version (a run to resume, a model file), completed with the keys
    added since from today's defaults; every saved value is kept as it was, once its type is
    checked against the default's (`check_saved_types`)."""
    defaults = defaults_for(modality)
    migrated = migrate(saved, source, strict=False)
    check_saved_types(defaults, migrated, source)
    return resolve_references(_deep_union(defaults, migrated))


def from_json(text: str, where: str | Path = "config") -> Config:
    """The config stored in a checkpoint's metadata: bounded JSON (`i2i.data.jsonfile`) that must
    be a mapping; anything else is an InputError naming `where` (the file)."""
    from i2i.data.jsonfile import parse_json
    from i2i.errors import InputError

    data = parse_json(text, where)
    if not isinstance(data, dict):
        raise InputError(where, f"its stored config is a {type(data).__name__}, not a mapping")
    return Config(data)
