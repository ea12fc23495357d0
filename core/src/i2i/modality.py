"""The contract a plugin fills in: what a modality is called, what it reads, and where its parts live.

Everything heavy is named by an import string ("package.module:attr") and resolved only when used,
so listing plugins and printing help never imports torch.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "default"  # the name of a plugin's only shipped model when it declares no `models`
INPUT_KINDS = ("image", "labels", "text", "keypoints", "landmarks", "file")
VALUE_TYPES = ("str", "int", "float", "choice")  # what a "text" input's value is parsed to
RESERVED_INPUT_NAMES = frozenset(
    {"plugin", "checkpoint", "model", "then", "out", "seed", "num_samples", "device", "batch_size",
     "truncation", "tile", "max_memory", "quiet", "help", "version", "json", "config", "set", "tiling"}
)  # fmt: skip
"""i2i-run's own options (and a few kept free for it, and `pipe(...)`'s `tiling` keyword, see
`i2i.notebook`): an input may not take one of these names.
tests/test_plugin_validation.py checks that every option of i2i-run is listed here."""
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # an input: its option is --name with - for _
_MODALITY_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class InputSpec:
    """One raw input of a modality at inference time (a command-line option of `i2i-run`).

    `kind` tells the core how to read it: "image" inputs accept an image file, a directory of
    images (batch) or, when `video` is true, a video file (video in -> video out). Other kinds
    reach the reader as the path given; with `video` true, a video file given there is decoded
    and its frames (3,H,W in [-1, 1]) reach `prepare` one by one (a pose or landmark video driving
    a still image), again video in -> video out. Several image/label inputs may be directories
    at once (`--input photos/ --mask masks/`): their files are paired by name (stem).

    "text" inputs are values typed on the command line. `type` says what the core parses them to
    before any reader sees them: "str" (as typed), "int", "float" (optionally within `minimum` /
    `maximum`) or "choice" (one of `choices`). `default` is used when the option is not given
    (such an input is never missing); `i2i-run --plugin X --help` shows types, choices and
    defaults, and a bad value is a one-line usage error (exit status 2). Example:
    `InputSpec("direction", choices=("AtoB", "BtoA"), default="AtoB", help="...")`.
    """

    name: str
    kind: str = "image"
    help: str = ""
    multiple: bool = False
    required: bool = True
    video: bool = False
    type: str = "str"
    choices: Sequence[str] = ()
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        """Checks the spec itself (a plugin bug, so ValueError at registration, not an InputError).

        A typed input (`type` int/float/choice, or `choices` given) is a value typed on the
        command line: its kind is "text" (set for you when left at the default "image").
        """
        where = f"InputSpec {self.name!r}"
        if self.choices and self.type == "str":
            object.__setattr__(self, "type", "choice")
        object.__setattr__(self, "choices", tuple(str(c) for c in self.choices))
        if self.type != "str" and self.kind == "image":
            object.__setattr__(self, "kind", "text")
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"{where}: kind must be one of {INPUT_KINDS}, got {self.kind!r}")
        if self.type not in VALUE_TYPES:
            raise ValueError(f"{where}: type must be one of {VALUE_TYPES}, got {self.type!r}")
        if self.type != "str" and self.kind != "text":
            raise ValueError(f"{where}: a {self.type} input must have kind 'text', not {self.kind!r}")
        if (self.type == "choice") != bool(self.choices):
            raise ValueError(f"{where}: choices go with type 'choice' (and it needs them)")
        if (self.minimum is not None or self.maximum is not None) and self.type not in ("int", "float"):
            raise ValueError(f"{where}: minimum/maximum apply to int and float inputs only")
        if self.default is not None:
            try:
                object.__setattr__(self, "default", self.parse(self.default))
            except ValueError as exc:
                raise ValueError(f"{where}: bad default: {exc}") from None

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def metavar(self) -> str | None:
        """What `--help` shows for the value: {a,b} for choices, N for int, X for float."""
        if self.type == "choice":
            return "{" + ",".join(self.choices) + "}"
        return {"int": "N", "float": "X"}.get(self.type)

    def parse(self, value: Any) -> Any:
        """One value as typed (or already typed, from Python) -> its `type`; ValueError with a
        short reason ("expected a whole number, got 'lots'") when it is not one."""
        if self.type == "str":
            return value
        if self.type == "choice":
            if str(value) not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}, got {str(value)!r}")
            return str(value)
        number: int | float
        try:
            if isinstance(value, bool):
                raise ValueError
            if self.type == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                number = int(value) if not isinstance(value, str) else int(value.strip(), 10)
            else:
                number = float(value)
                if number != number or number in (float("inf"), float("-inf")):
                    raise ValueError
        except (TypeError, ValueError):
            kind = "a whole number" if self.type == "int" else "a number"
            raise ValueError(f"expected {kind}, got {str(value)!r}") from None
        low, high = self.minimum, self.maximum
        if (low is not None and number < low) or (high is not None and number > high):
            if low is not None and high is not None:
                bounds = f"from {low:g} to {high:g}"
            else:
                bounds = f"at least {low:g}" if low is not None else f"at most {high:g}"
            raise ValueError(f"must be {bounds}, got {number:g}")
        return number


@dataclass(frozen=True)
class Modality:
    """A condition type. The engine trains and runs any modality the same way.

    conditioner, dataset, demo_data, evaluator, adapt, exports, validate_config and importers are
    import strings; config, default_checkpoint and the files of `models` are package resources
    written "package:relative/path".
    models maps a name (given to `i2i-run --model NAME`, or `--then PLUGIN:NAME`) to the file of a
    model the plugin ships; default_model names the one `i2i-run --plugin P` runs without
    `--model` (the first one when not given). default_checkpoint is that model's file: a plugin
    with one shipped model may give only it (its model is then called "default"); with `models`
    it is filled in. A declared file need not be installed yet (a model still being trained):
    `i2i plugins` marks it, and running it is a one-line error (see `i2i.shipped`).
    exports names `parts(pipeline, batch) -> list[i2i.export.ExportPart]`: tensor programs of the
    modality beyond the generator that `i2i export` writes as ONNX too (e.g. a frozen pretrained
    encoder of the condition, with the files it needs); the core knows nothing else about them.
    validate_config names `validate(config) -> None`, called with the resolved config before
    training starts (`i2i.validation.validate`); it raises `i2i.errors.ConfigError` naming the key.
    presets maps a short name (given to `--config NAME`) to a package resource YAML.
    reader names an `i2i.inputs.InputReader` subclass, built with the model's config: it reads and
    checks `i2i-run`'s raw inputs and keeps the state of one input stream (a video); without one,
    the conditioner's own `samples` / `prepare` are used (the contract before readers).
    tileable False says the modality's spatial conditions are not aligned pixel for pixel with
    its output (a source photo to re-pose, a portrait to animate): `i2i-run` then never cuts a
    large input into tiles (`i2i.tiling`), whatever its generator says.
    pipeline_tag is the Hugging Face Hub task of the modality's models ("image-to-image",
    "text-to-image", ...), written into exported model cards (`i2i.hub_export`); None: derived
    from the inputs (text only -> text-to-image, else image-to-image).
    """

    name: str
    summary: str
    inputs: Sequence[InputSpec]
    config: str
    conditioner: str
    dataset: str
    demo_data: str | None = None
    default_checkpoint: str | None = None
    presets: Mapping[str, str] = field(default_factory=dict)
    importers: Sequence[str] = ()
    evaluator: str | None = None
    adapt: str | None = None
    exports: str | None = None
    validate_config: str | None = None
    reader: str | None = None
    models: Mapping[str, str] = field(default_factory=dict)
    default_model: str | None = None
    tileable: bool = True
    pipeline_tag: str | None = None

    def __post_init__(self) -> None:
        """One shipped-model table whatever the plugin gave: `models` + `default_model`, or the
        older single `default_checkpoint` (then its model is "default"). A disagreement between the
        two is a plugin bug, so ValueError at registration."""
        models = dict(self.models)
        where = f"Modality {self.name!r}"
        if not models:
            if self.default_model is not None:
                raise ValueError(f"{where}: default_model {self.default_model!r} names no entry of models")
            if self.default_checkpoint:
                models = {DEFAULT_MODEL: self.default_checkpoint}
        if models:
            default = self.default_model or next(iter(models))
            if default not in models:
                known = ", ".join(models)
                raise ValueError(f"{where}: default_model {default!r} is not one of models ({known})")
            if self.default_checkpoint and self.default_checkpoint != models[default]:
                raise ValueError(
                    f"{where}: default_checkpoint is models[{default!r}]; give models or default_checkpoint"
                )
            object.__setattr__(self, "default_model", default)
            object.__setattr__(self, "default_checkpoint", models[default])
        object.__setattr__(self, "models", models)

    def input(self, name: str) -> InputSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)


def check_modality(modality: Any) -> None:
    """What the core relies on in a registered modality, checked once at registration.

    A plugin's mistake must fail that plugin alone, with one line, instead of every later command
    that lists or runs plugins (an input given as a plain string, an input called `out` that
    would clash with i2i-run's own option). Raises ValueError naming the field.
    """
    if not isinstance(modality, Modality):
        raise ValueError(f"register() wants a Modality, got {type(modality).__name__}")
    if not isinstance(modality.name, str) or not _MODALITY_NAME.fullmatch(modality.name):
        raise ValueError(f"modality name must match {_MODALITY_NAME.pattern}, got {modality.name!r}")
    if not isinstance(modality.inputs, (list, tuple)) or not modality.inputs:
        raise ValueError(f"modality {modality.name!r}: inputs must be a non-empty list of InputSpec")
    seen: set[str] = set()
    for i, spec in enumerate(modality.inputs):
        if not isinstance(spec, InputSpec):
            raise ValueError(
                f"modality {modality.name!r}: inputs[{i}] is a {type(spec).__name__}, not an InputSpec"
            )
        if not isinstance(spec.name, str) or not _NAME.fullmatch(spec.name):
            raise ValueError(
                f"modality {modality.name!r}: input name must match {_NAME.pattern}, got {spec.name!r}"
            )
        if spec.name in RESERVED_INPUT_NAMES:
            raise ValueError(
                f"modality {modality.name!r}: input {spec.name!r} would clash with i2i-run's {spec.option}"
            )
        if spec.name in seen:
            raise ValueError(f"modality {modality.name!r}: two inputs are called {spec.name!r}")
        seen.add(spec.name)
    for field_name in ("summary", "config"):
        if not isinstance(getattr(modality, field_name), str):
            raise ValueError(f"modality {modality.name!r}: {field_name} must be a string")


def resolve_object(target: str | Any) -> Any:
    """Import "package.module:attr" lazily; non-strings are returned unchanged (in-process plugins)."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:  # a plugin's part missing or broken: one line, exit 2
        from i2i.errors import I2IError

        text = " ".join(str(exc).split())[:200]
        raise I2IError(f"i2i: cannot load {target} ({type(exc).__name__}: {text})") from None
    return obj


def resolve_resource(target: str) -> Path:
    """Turn "package:relative/path" into a filesystem path; a plain path is returned as a Path."""
    if ":" in target and not Path(target).exists() and target[1:3] != ":\\":
        package, _, rel = target.partition(":")
        return Path(str(resources.files(package).joinpath(rel)))
    return Path(target)
