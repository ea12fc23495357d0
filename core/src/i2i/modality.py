"""The contract a plugin fills in: what a modality is called, what it reads, and where its parts live.

Everything heavy is named by an import string ("package.module:attr") and resolved only when used,
so listing plugins and printing help never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

INPUT_KINDS = ("image", "labels", "text", "keypoints", "landmarks", "file")


@dataclass(frozen=True)
class InputSpec:
    """One raw input of a modality at inference time (a command-line option of `i2i-run`).

    `kind` tells the core how to read it: "image" inputs accept an image file, a directory of
    images (batch) or, when `video` is true, a video file (video in -> video out). Other kinds
    reach the conditioner as the path given; with `video` true, a video file given there is decoded
    and its frames (3,H,W in [-1, 1]) reach `prepare` one by one (a pose or landmark video driving
    a still image), again video in -> video out.
    """

    name: str
    kind: str = "image"
    help: str = ""
    multiple: bool = False
    required: bool = True
    video: bool = False

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"InputSpec {self.name!r}: kind must be one of {INPUT_KINDS}, got {self.kind!r}")

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Modality:
    """A condition type. The engine trains and runs any modality the same way.

    conditioner, dataset, demo_data, evaluator, adapt, exports, validate_config and importers are
    import strings; config and default_checkpoint are package resources written
    "package:relative/path".
    exports names `parts(pipeline, batch) -> list[i2i.export.ExportPart]`: tensor programs of the
    modality beyond the generator that `i2i export` writes as ONNX too (e.g. a frozen pretrained
    encoder of the condition, with the files it needs); the core knows nothing else about them.
    validate_config names `validate(config) -> None`, called with the resolved config before
    training starts (`i2i.validation.validate`); it raises `i2i.errors.ConfigError` naming the key.
    presets maps a short name (given to `--config NAME`) to a package resource YAML.
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

    def input(self, name: str) -> InputSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)


def resolve_object(target: str | Any) -> Any:
    """Import "package.module:attr" lazily; non-strings are returned unchanged (in-process plugins)."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def resolve_resource(target: str) -> Path:
    """Turn "package:relative/path" into a filesystem path; a plain path is returned as a Path."""
    if ":" in target and not Path(target).exists() and target[1:3] != ":\\":
        package, _, rel = target.partition(":")
        return Path(str(resources.files(package).joinpath(rel)))
    return Path(target)
