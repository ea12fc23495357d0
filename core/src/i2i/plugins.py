"""Plugin manager facade: explicit, guarded loading of the `i2i` entry-point group.

Nothing is loaded at import time. Each entry point is imported and each of its hooks is called
inside its own guard, so one broken plugin is reported in one line that names its distribution
and the others keep working. ``I2I_STRICT_PLUGINS=1`` turns those reports into exceptions.
``I2I_LOAD_PLUGINS=a,b`` loads only the named entry points; ``I2I_DISABLE_PLUGINS=a,b`` skips some.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from i2i import hookspecs
from i2i.modality import Modality, check_modality, resolve_object

ENTRY_POINT_GROUP = "i2i"
NETWORK_KINDS = ("generator", "discriminator")
TERM_SIDES = ("generator", "discriminator")


class PluginError(Exception):
    """A plugin could not be loaded or used (one line, names the distribution)."""


class UnknownName(PluginError):
    """A modality or network name that no loaded plugin registered."""


@dataclass
class PluginInfo:
    """What `i2i plugins` shows for one plugin (an entry point or an in-process object)."""

    name: str
    distribution: str
    version: str
    status: str = "ok"  # ok | failed | disabled
    reason: str = ""
    modalities: list[str] = field(default_factory=list)

    @property
    def status_line(self) -> str:
        return f"failed: {self.reason}" if self.status == "failed" else self.status


@dataclass(frozen=True)
class NetworkEntry:
    name: str
    kind: str
    target: Any
    plugin: str

    def build(self, **kwargs: Any) -> Any:
        return resolve_object(self.target)(**kwargs)


@dataclass(frozen=True)
class LossTermEntry:
    """A registered loss term: `side` is generator or discriminator; `legacy` maps old flat
    ``loss.<key>`` config keys to this term's weight, every or an option."""

    name: str
    side: str
    target: Any
    plugin: str
    legacy: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RecipeEntry:
    name: str
    target: Any
    plugin: str


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {item.strip() for item in raw.split(",") if item.strip()}


def _strict() -> bool:
    return os.environ.get("I2I_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not _REGISTERED_NAME.fullmatch(name):
        raise ValueError(f"{what} name must match {_REGISTERED_NAME.pattern}, got {name!r}")


_REGISTERED_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class PluginManager:
    """Owns the pluggy manager, the load report and the name registries built from hooks."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        self._entry_points_loaded = False
        self._collected = False
        self._modalities: dict[str, tuple[Modality, str]] = {}
        self._networks: dict[tuple[str, str], NetworkEntry] = {}
        self._terms: dict[tuple[str, str], LossTermEntry] = {}
        self._recipes: dict[str, RecipeEntry] = {}
        self._register_builtins()

    # ---- loading -------------------------------------------------------------------------
    def _register_builtins(self) -> None:
        from i2i.nets import catalog

        self.register(catalog, name="i2i.nets", distribution="i2i-core")

    def load_entry_points(self) -> None:
        """Import every entry point of the `i2i` group, each in its own guard (idempotent)."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        only = _env_list("I2I_LOAD_PLUGINS")
        disabled = _env_list("I2I_DISABLE_PLUGINS") or set()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            info = PluginInfo(ep.name, dist, version)
            if ep.name in self._infos:
                self._fail(info, f"entry point name {ep.name!r} is already taken")
                continue
            self._infos[ep.name] = info
            if ep.name in disabled or (only is not None and ep.name not in only):
                info.status = "disabled"
                continue
            try:
                module = ep.load()
                self._pm.register(module, name=ep.name)
            except KeyboardInterrupt:
                raise
            except (
                BaseException
            ) as exc:  # a broken plugin (even one calling sys.exit) must not take the others down
                self._fail(info, f"import failed: {_one_line(exc)}")
        self._collected = False

    def register(self, plugin: object, name: str | None = None, distribution: str = "(in-process)") -> str:
        """Register a plugin object in-process (tests, notebooks). Returns its name."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self._infos and self._infos[name].status == "ok" and self._pm.has_plugin(name):
            raise PluginError(f"plugin {name!r} is already registered")
        self._pm.register(plugin, name=name)
        self._infos[name] = PluginInfo(name, distribution, _dist_version(distribution))
        self._collected = False
        return name

    def unregister(self, name: str) -> None:
        if self._pm.has_plugin(name):
            self._pm.unregister(name=name)
        self._infos.pop(name, None)
        self._collected = False

    def check_pending(self) -> None:
        """Raise if a plugin implements a hook that no spec declares (usually a typo)."""
        self._pm.check_pending()

    def _fail(self, info: PluginInfo, reason: str) -> None:
        info.status, info.reason = "failed", reason
        if _strict():
            raise PluginError(f"plugin {info.name!r} ({info.distribution}): {reason}")

    # ---- hooks -> registries ---------------------------------------------------------------
    def _collect(self) -> None:
        if self._collected:
            return
        self._collected = True
        self._modalities.clear()
        self._networks.clear()
        self._terms.clear()
        self._recipes.clear()
        for info in self._infos.values():
            info.modalities = []
        self._call_each("register_networks", self._network_registrar)
        self._call_each("register_loss_terms", self._term_registrar)
        self._call_each("register_recipes", self._recipe_registrar)
        self._call_each("register_modalities", self._modality_registrar)
        if _strict():
            self.check_pending()

    def _call_each(self, hook: str, make_register: Callable[[PluginInfo], Callable[..., None]]) -> None:
        """Call one registration hook of every plugin: the core first, then the plugins by name.

        The order is fixed here, not by pluggy's (registration order, `tryfirst`), because the
        first to register a name keeps it: a plugin can never take over a core network or
        another plugin's name by loading later or asking to run first.
        """

        def order(impl: Any) -> tuple[bool, str]:
            info = self._infos.get(impl.plugin_name)
            return (info is None or info.distribution != "i2i-core", impl.plugin_name)

        for impl in sorted(getattr(self._pm.hook, hook).get_hookimpls(), key=order):
            info = self._infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "?", "?")
            if info.status != "ok":
                continue
            try:
                impl.function(register=make_register(info))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                self._fail(info, f"{hook} failed: {_one_line(exc)}")

    def _modality_registrar(self, info: PluginInfo) -> Callable[[Modality], None]:
        """A modality name belongs to the plugin whose entry point carries that name (the
        `upscale` entry point owns `upscale`); between other claimants the first in `_call_each`'s
        order keeps it. The loser is marked failed with one line naming the owner."""

        def register(modality: Modality) -> None:
            check_modality(modality)
            name = modality.name
            if name in self._modalities:
                _, owner = self._modalities[name]
                holder = next((i for i in self._infos.values() if name in i.modalities), None)
                if info.name != name or holder is None or holder.name == name:
                    self._fail(info, f"modality {name!r} is already registered by {owner}")
                    return
                holder.modalities.remove(name)
                self._fail(
                    holder,
                    f"modality {name!r} is already registered by {info.distribution} (the plugin of that name)",
                )
            self._modalities[name] = (modality, info.distribution)
            info.modalities.append(name)

        return register

    def _network_registrar(self, info: PluginInfo) -> Callable[..., None]:
        def register(name: str, target: Any, kind: str = "generator") -> None:
            if kind not in NETWORK_KINDS:
                raise ValueError(f"network kind must be one of {NETWORK_KINDS}, got {kind!r}")
            _check_name(name, f"{kind} network")
            key = (kind, name)
            if key in self._networks:
                owner = self._networks[key].plugin
                self._fail(info, f"{kind} network {name!r} is already registered by {owner}")
                return
            self._networks[key] = NetworkEntry(name, kind, target, info.distribution)

        return register

    def _term_registrar(self, info: PluginInfo) -> Callable[..., None]:
        def register(
            name: str, target: Any, side: str = "generator", legacy: dict[str, str] | None = None
        ) -> None:
            if side not in TERM_SIDES:
                raise ValueError(f"loss term side must be one of {TERM_SIDES}, got {side!r}")
            _check_name(name, "loss term")
            key = (side, name)
            if key in self._terms:
                owner = self._terms[key].plugin
                self._fail(info, f"{side} loss term {name!r} is already registered by {owner}")
                return
            entry = LossTermEntry(name, side, target, info.distribution, tuple((legacy or {}).items()))
            self._terms[key] = entry

        return register

    def _recipe_registrar(self, info: PluginInfo) -> Callable[..., None]:
        def register(name: str, target: Any) -> None:
            _check_name(name, "recipe")
            if name in self._recipes:
                self._fail(info, f"recipe {name!r} is already registered by {self._recipes[name].plugin}")
                return
            self._recipes[name] = RecipeEntry(name, target, info.distribution)

        return register

    # ---- queries ---------------------------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        self._collect()
        return list(self._infos.values())

    def modalities(self) -> dict[str, Modality]:
        self._collect()
        return {name: mod for name, (mod, _) in self._modalities.items()}

    def get_modality(self, name: str) -> Modality:
        mods = self.modalities()
        if name not in mods:
            known = ", ".join(sorted(mods)) or "none installed"
            raise UnknownName(f"unknown plugin {name!r} (installed: {known})")
        return mods[name]

    def distribution_of(self, modality: str) -> str:
        self._collect()
        return self._modalities[modality][1]

    def networks(self, kind: str | None = None) -> list[NetworkEntry]:
        self._collect()
        return [e for (k, _), e in sorted(self._networks.items()) if kind in (None, k)]

    def get_network(self, kind: str, name: str) -> NetworkEntry:
        self._collect()
        try:
            return self._networks[(kind, name)]
        except KeyError:
            known = ", ".join(e.name for e in self.networks(kind))
            raise UnknownName(f"unknown {kind} network {name!r} (known: {known})") from None

    def loss_terms(self, side: str | None = None) -> list[LossTermEntry]:
        self._collect()
        return [e for (s, _), e in sorted(self._terms.items()) if side in (None, s)]

    def get_loss_term(self, side: str, name: str) -> LossTermEntry:
        self._collect()
        try:
            return self._terms[(side, name)]
        except KeyError:
            known = ", ".join(e.name for e in self.loss_terms(side))
            raise UnknownName(f"unknown {side} loss term {name!r} (known: {known})") from None

    def recipes(self) -> list[RecipeEntry]:
        self._collect()
        return [self._recipes[k] for k in sorted(self._recipes)]

    def get_recipe(self, name: str) -> RecipeEntry:
        self._collect()
        try:
            return self._recipes[name]
        except KeyError:
            known = ", ".join(sorted(self._recipes))
            raise UnknownName(f"unknown recipe {name!r} (known: {known})") from None


def _dist_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"


_manager: PluginManager | None = None


def get_manager(load: bool = True) -> PluginManager:
    """The process-wide manager; entry points are loaded on first use, never at import."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
    if load:
        _manager.load_entry_points()
    return _manager


def reset() -> None:
    """Forget all loaded plugins (tests)."""
    global _manager
    _manager = None


def register(plugin: object, name: str | None = None) -> str:
    """Register a plugin object in this process (tests and notebooks)."""
    return get_manager().register(plugin, name=name)


def get_modality(name: str) -> Modality:
    return get_manager().get_modality(name)


def report_failures(stream: Any = None, infos: Iterable[PluginInfo] | None = None) -> None:
    """Print one line per failed plugin; called by the CLI before doing its work."""
    stream = stream or sys.stderr
    for info in infos if infos is not None else get_manager().plugins():
        if info.status == "failed":
            print(f"i2i: plugin {info.name!r} ({info.distribution}) not loaded: {info.reason}", file=stream)
