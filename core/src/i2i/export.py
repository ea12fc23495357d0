"""`i2i export`: a model's generator as an ONNX file, for runtimes without Python or PyTorch.

What is exported is the GENERATOR, the part that is a fixed tensor program. Its `Condition` is
flattened by name (`Condition.named_tensors()`: "maps", "vector", "tokens", "token_mask", "refs",
"parts.<name>" for each named part, and "z" for models that take noise) into the graph's inputs;
the graph rebuilds the Condition with `Condition.from_named`; the output is "image" in [-1, 1].
Which fields a model needs is found by running its conditioner once on an example (a sample of the
plugin's demo data, or of `--data`): the fields it fills are traced, and those the generator never
reads drop out of the graph.

The conditioner stays in Python: it reads files, detects keypoints, warps, one-hot encodes; a user
of the ONNX file must produce the same tensors (the JSON written beside the model says which, with
the example's shapes). A plugin can offer more tensor programs of its own, its *exportable parts*
(`Modality.exports`, a function `parts(pipeline, batch) -> list[ExportPart]`): each is written as
`<stem>.<part name>.onnx`, with any extra files it names (`<stem>.<file name>`), checked against
PyTorch like the generator and described under "parts" in the JSON. The core knows nothing about
what a part is.

The batch axis is dynamic. Height and width are made dynamic too and checked at a second size; a
generator whose traced graph does not generalise (shapes baked in) is exported again at the
example's fixed size, and the JSON says which. Every export is checked against PyTorch with ONNX
Runtime before anything is moved into place, so a failed export leaves no file behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy as copy_module
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i import onnx_runtime
from i2i.errors import ConfigError, I2IError, InputError
from i2i.interfaces import Condition
from i2i.modality import resolve_object
from i2i.onnx_runtime import EXTRA_HINT, require_onnx
from i2i.pipeline import Pipeline, draw_noise, load_pipeline

__all__ = ["EXTRA_HINT", "ExportPart", "ExportResult", "PartResult", "export_onnx", "onnx_export"]

FORMATS = ("onnx",)
OPSET = 17
TOLERANCE = 1e-3  # max abs difference to PyTorch, on images in [-1, 1]
SPATIAL = ("maps", "refs")  # (B, C, H, W) fields whose H and W may be dynamic; 4-D parts too
SEQUENCE = ("tokens", "token_mask")  # (B, T, ...) fields whose length T may differ per input
PART_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")  # <stem>.<part>.onnx
FILE_NAME = re.compile(r"[a-z][a-z0-9_]*\.[a-z0-9]+\Z")  # <stem>.<file>, e.g. vocab.json
NOTE = (
    "Inputs are the Condition the plugin's conditioner makes from raw inputs (files, keypoints, "
    "warps, one-hot labels, identity or style embeddings), which is not part of this file, flattened "
    "by name (parts.<name> for the condition's named parts); z is standard normal noise. The output "
    "image is (B, 3, H, W) in [-1, 1]."
)


@dataclass
class ExportPart:
    """One tensor program a plugin offers for export beside the generator (`Modality.exports`).

    name: lower-case identifier; the file is `<stem>.<name>.onnx` and the JSON describes it under
        `parts.<name>`.
    module: an nn.Module called as `module(*inputs.values())`, returning one tensor or a tuple of
        tensors in the order of `outputs`. It is exported in eval mode (its modes are restored).
    inputs: example inputs by ONNX input name, to trace with.
    outputs: the ONNX output names.
    dynamic_axes: torch.onnx's dynamic_axes (input or output name -> {axis: axis name}).
    checks: more inputs (same names) the ONNX graph must reproduce PyTorch on, e.g. other lengths.
    files: extra files by name (`<stem>.<file name>`) -> a writer called with the temporary path
        to write (moved into place with the model only when every check passed).
    info: anything else for the JSON description (shapes in words, a pretrained model's name).
    """

    name: str
    module: nn.Module
    inputs: Mapping[str, Tensor]
    outputs: Sequence[str]
    dynamic_axes: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    checks: Sequence[Mapping[str, Tensor]] = ()
    files: Mapping[str, Callable[[Path], None]] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class PartResult:
    """What was written for one exportable part and how it compares with PyTorch."""

    model: Path
    files: dict[str, Path]
    max_abs_diff: float


@dataclass
class ExportResult:
    """What `export_onnx` wrote and how the export compares with PyTorch."""

    model: Path
    meta: Path
    inputs: dict[str, list[int]]
    output: list[int]
    spatial: str  # "dynamic", "fixed" or "none" (no spatial inputs)
    max_abs_diff: float
    seconds: float
    dropped: list[str] = field(default_factory=list)
    parts: dict[str, PartResult] = field(default_factory=dict)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unsupported export format {fmt!r} (supported: {', '.join(FORMATS)})")


# ---- the example ----------------------------------------------------------------------------------
def _dataset_sample(pipe: Pipeline, root: Path) -> dict[str, Any] | None:
    make = resolve_object(pipe.modality.dataset)
    for split in ("test", "val", "train"):
        try:
            dataset = make(root, pipe.config.data, split, False)
            if len(dataset):
                return dataset[0]
        except (I2IError, FileNotFoundError, ValueError):
            continue
    return None


def example_batch(pipe: Pipeline, data: str | Path | None = None) -> dict[str, Any]:
    """One sample (batch of 1) to trace with: from `data`, else from the plugin's demo data.

    The demo set is written small (a handful of samples) to a temporary folder and removed again;
    the dataset is built with the model's own data config, so the example has the sizes the model
    was trained at.
    """
    if data is not None:
        root = Path(data)
        if not root.is_dir():
            raise InputError(root, "no such data directory")
        sample = _dataset_sample(pipe, root)
        if sample is None:
            raise InputError(root, f"no {pipe.modality.name} samples here to take an example input from")
        return torch.utils.data.default_collate([sample])
    if not pipe.modality.demo_data:
        raise I2IError(f"plugin {pipe.modality.name} has no demo data: give --data DIR for an example input")
    writer = resolve_object(pipe.modality.demo_data)
    with tempfile.TemporaryDirectory(prefix="i2i-export-") as tmp:
        try:
            writer(Path(tmp), n=4, seed=0)
        except I2IError:  # a plugin whose demo needs more samples: its own default count
            shutil.rmtree(tmp, ignore_errors=True)
            Path(tmp).mkdir(exist_ok=True)
            writer(Path(tmp), seed=0)
        sample = _dataset_sample(pipe, Path(tmp))
    if sample is None:
        raise I2IError(f"plugin {pipe.modality.name}: its demo data gave no sample to trace with")
    return torch.utils.data.default_collate([sample])


# ---- the graph ------------------------------------------------------------------------------------
class GeneratorGraph(nn.Module):
    """Positional tensors (the Condition's named tensors in `names`, then z) -> Condition (by
    `Condition.from_named`) -> generator -> image."""

    def __init__(self, generator: nn.Module, names: Sequence[str], noise: bool) -> None:
        super().__init__()
        self.generator = generator
        self.names = list(names)
        self.noise = noise

    def forward(self, *tensors: Tensor) -> Tensor:
        cond = Condition.from_named(dict(zip(self.names, tensors)))
        z = tensors[len(self.names)] if self.noise else None
        return self.generator(cond, z).float()


def baked(module: nn.Module) -> nn.Module:
    """An eval-mode copy whose parametrized weights (spectral norm, weight norm) are constants.

    ONNX has no op for spectral norm's vdot, and in eval mode the normalised weight is fixed anyway:
    each parametrized tensor's current value becomes its `original` and the parametrizations become
    identities. (`remove_parametrizations` would also do it, but it edits the class a copy shares
    with the original module, which would break the model being exported.)
    """
    from torch.nn.utils import parametrize

    copy = copy_module(module).eval()
    with torch.no_grad():
        for sub in copy.modules():
            if not parametrize.is_parametrized(sub):
                continue
            for name, chain in sub.parametrizations.items():
                if chain.is_tensor:
                    chain.original.data = getattr(sub, name).detach().clone()
                    for i in range(len(chain)):
                        chain[i] = nn.Identity()
    return copy


def _is_spatial(name: str, t: Tensor) -> bool:
    return t.dim() == 4 and (name in SPATIAL or name.startswith("parts."))


def _inputs(pipe: Pipeline, cond: Condition, seed: int = 0) -> dict[str, Tensor]:
    """The named graph inputs for a condition: its tensors by name, then z when the model takes noise."""
    named = dict(cond.named_tensors())
    dim = int(pipe.generator.noise_dim)
    if dim:
        named["z"] = draw_noise(cond.batch_size, dim, seed)
    return named


def _dynamic_axes(named: Mapping[str, Tensor], spatial: bool) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for name, t in named.items():
        axes[name] = {0: "batch"}
        if name in SEQUENCE:
            axes[name][1] = "length"  # token sequences differ in length
        if spatial and _is_spatial(name, t):
            axes[name].update({2: "height", 3: "width"})
    axes["image"] = {0: "batch", 2: "out_height", 3: "out_width"} if spatial else {0: "batch"}
    return axes


def onnx_export(
    module: nn.Module,
    named: Mapping[str, Tensor],
    outputs: Sequence[str],
    path: Path,
    axes: Any,
    *,
    fold: bool = True,
) -> None:
    """torch.onnx.export with the TorchScript exporter (dynamo=False), which needs no onnxscript and
    handles the dynamic_axes every generator here needs; its deprecation warnings are silenced.
    `fold=False` keeps every parameter as an initializer under its own name (a weightless graph
    whose initializers point into another file relies on that). The modes of the module's
    submodules are restored afterwards (the exporter sets a wrapper's mode onto what it wraps)."""
    training = [m.training for m in module.modules()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.no_grad():
                torch.onnx.export(
                    module,
                    tuple(named.values()),
                    str(path),
                    dynamo=False,
                    opset_version=OPSET,
                    input_names=list(named),
                    output_names=list(outputs),
                    dynamic_axes=axes,
                    do_constant_folding=fold,
                )
        except (torch.onnx.errors.OnnxExporterError, RuntimeError) as exc:
            detail = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
            raise I2IError(f"cannot export {type(module).__name__} to ONNX: {detail}") from None
        finally:
            for m, mode in zip(module.modules(), training):
                m.training = mode


def _resize(cond: Condition, size: tuple[int, int]) -> Condition:
    def scale(t: Tensor) -> Tensor:
        return F.interpolate(t.float(), size=size, mode="nearest").to(t.dtype)

    named = cond.named_tensors()
    return Condition.from_named({k: scale(v) if _is_spatial(k, v) else v for k, v in named.items()})


def _other_size(pipe: Pipeline, cond: Condition) -> tuple[int, int] | None:
    """A second, non-square size, a multiple of the generator's, to check dynamic H and W at."""
    spatial = [t for k, t in cond.named_tensors().items() if _is_spatial(k, t)]
    if not spatial:
        return None
    h, w = spatial[0].shape[-2:]
    m = max(1, pipe.size_multiple)
    return h + m, w + 2 * m


def _batch_of_two(cond: Condition) -> Condition:
    """The example twice, the second copy changed (flipped maps, scaled vectors), so a graph that
    mixed up samples across the batch would show."""

    def second(name: str, t: Tensor) -> Tensor:
        if name == "token_mask":
            return t
        if t.dim() == 4:
            return t.flip(-1)
        return t * 0.5 if t.is_floating_point() else t

    named = cond.named_tensors()
    return Condition.from_named({k: torch.cat([v, second(k, v)]) for k, v in named.items()})


def _difference(got: Sequence[Any], expected: Sequence[Tensor]) -> float:
    """Max abs difference over outputs; a shape difference or an unequal non-float output is inf."""
    worst = 0.0
    for g, e in zip(got, expected, strict=True):
        e = e.detach().cpu()
        if tuple(g.shape) != tuple(e.shape):
            return float("inf")
        if e.is_floating_point():
            worst = max(worst, float(abs(g - e.float().numpy()).max()) if e.numel() else 0.0)
        elif not (g == e.numpy()).all():
            return float("inf")
    return worst


@torch.no_grad()
def _compare(pipe: Pipeline, graph: nn.Module, session: Any, cond: Condition, seed: int) -> float:
    named = _inputs(pipe, cond, seed)
    expected = graph(*named.values())
    return _difference(onnx_runtime.run(session, named), [expected])


@torch.no_grad()
def _generalises(pipe: Pipeline, graph: nn.Module, path: Path, cond: Condition) -> bool:
    """Whether the graph traced with dynamic H and W gives PyTorch's output at another size."""
    try:
        session = onnx_runtime.session(path)
        return _compare(pipe, graph, session, cond, 2) <= TOLERANCE
    except Exception:  # a generator or a graph that cannot run at that size: fixed size
        return False


# ---- the plugin's exportable parts ----------------------------------------------------------------
def offered_parts(pipe: Pipeline, batch: Mapping[str, Any]) -> list[ExportPart]:
    """The parts the modality offers (`Modality.exports`), checked for usable, unique names."""
    if not pipe.modality.exports:
        return []
    parts = list(resolve_object(pipe.modality.exports)(pipe, batch))
    seen: set[str] = set()
    for part in parts:
        if not isinstance(part, ExportPart):
            raise I2IError(
                f"plugin {pipe.modality.name}: exports gave {type(part).__name__}, not an ExportPart"
            )
        for name, pattern in [(part.name, PART_NAME), *((f, FILE_NAME) for f in part.files)]:
            if not pattern.match(name):
                raise I2IError(f"plugin {pipe.modality.name}: unusable export name {name!r}")
            if name in seen:
                raise I2IError(f"plugin {pipe.modality.name}: export name {name!r} given twice")
            seen.add(name)
    return parts


def _outputs(value: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [value] if isinstance(value, Tensor) else list(value)


@torch.no_grad()
def _export_part(part: ExportPart, model: Path, files: Mapping[str, Path]) -> float:
    """Trace one part to `model`, check it against PyTorch on its example and its checks, then
    write its extra files; returns the max abs difference."""
    modes = [m.training for m in part.module.modules()]
    part.module.eval()
    try:
        onnx_export(part.module, part.inputs, part.outputs, model, dict(part.dynamic_axes))
        session = onnx_runtime.session(model)
        diff = 0.0
        for named in [part.inputs, *part.checks]:
            expected = _outputs(part.module(*named.values()))
            diff = max(diff, _difference(onnx_runtime.run(session, named), expected))
    finally:
        for m, mode in zip(part.module.modules(), modes):
            m.training = mode
    if diff > TOLERANCE:
        raise I2IError(
            f"ONNX export of part {part.name!r} differs from PyTorch by {diff:.2g} (> {TOLERANCE})"
        )
    for name, write in part.files.items():
        write(files[name])
    return diff


def _part_meta(part: ExportPart, result: PartResult) -> dict[str, Any]:
    return {
        "file": result.model.name,
        "inputs": {
            k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
            for k, v in part.inputs.items()
        },
        "outputs": list(part.outputs),
        "dynamic_axes": {k: dict(v) for k, v in part.dynamic_axes.items()},
        "files": {k: p.name for k, p in result.files.items()},
        "max_abs_diff": result.max_abs_diff,
        **dict(part.info),
    }


# ---- export -----------------------------------------------------------------------------------------
def _temp_beside(path: Path) -> Path:
    """A fresh hidden name in the same folder (so os.replace is atomic), not yet created: the
    exporter creates it with the usual permissions."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def export_onnx(
    source: str | Path,
    out: str | Path,
    *,
    plugin: str | None = None,
    data: str | Path | None = None,
    fmt: str = "onnx",
) -> ExportResult:
    """Export a model's generator (and the exportable parts its plugin offers) to ONNX beside a
    JSON description.

    `source` is what `load_pipeline` takes (model file, run directory, plugin name). Writes `out`
    (must end in .onnx), `<stem>.json` and, per part, `<stem>.<part>.onnx` and its extra files
    `<stem>.<file>`; all are written to temporary files, checked with ONNX Runtime against
    PyTorch, and only then moved into place.
    """
    check_format(fmt)
    onnx, _ = require_onnx()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise InputError(out, "--out must end in .onnx")
    if not out.parent.is_dir():
        raise InputError(out.parent, "no such directory for --out")
    start = time.perf_counter()
    pipe = load_pipeline(source, plugin=plugin, device="cpu")
    batch = example_batch(pipe, data)
    with torch.no_grad():
        cond = pipe.conditioner(batch)
    parts = offered_parts(pipe, batch)
    named = _inputs(pipe, cond)
    names = [k for k in named if k != "z"]
    noise = "z" in named
    graph = GeneratorGraph(pipe.generator, names, noise).eval()  # PyTorch's reference
    traced = GeneratorGraph(baked(pipe.generator), names, noise).eval()  # what is exported
    meta_path = out.with_suffix(".json")
    part_paths = {p.name: out.with_name(f"{out.stem}.{p.name}.onnx") for p in parts}
    file_paths = {p.name: {f: out.with_name(f"{out.stem}.{f}") for f in p.files} for p in parts}
    finals = [out, meta_path, *part_paths.values(), *(f for d in file_paths.values() for f in d.values())]
    temps = {p: _temp_beside(p) for p in finals}
    try:
        other = _other_size(pipe, cond)
        spatial = "none" if other is None else "dynamic"
        with torch.no_grad():
            expected = graph(*named.values())
        onnx_export(traced, named, ("image",), temps[out], _dynamic_axes(named, other is not None))
        if other is not None and not _generalises(pipe, graph, temps[out], _resize(cond, other)):
            spatial = "fixed"
            onnx_export(traced, named, ("image",), temps[out], _dynamic_axes(named, False))
        onnx.checker.check_model(str(temps[out]))
        session = onnx_runtime.session(temps[out])
        kept = [i.name for i in session.get_inputs()]
        diff = max(
            _compare(pipe, graph, session, cond, 0), _compare(pipe, graph, session, _batch_of_two(cond), 1)
        )
        if diff > TOLERANCE:
            raise I2IError(f"ONNX export of {pipe.source} differs from PyTorch by {diff:.2g} (> {TOLERANCE})")
        result = ExportResult(
            model=out,
            meta=meta_path,
            inputs={k: list(v.shape) for k, v in named.items() if k in kept},
            output=list(expected.shape),
            spatial=spatial,
            max_abs_diff=diff,
            seconds=0.0,
            dropped=[k for k in named if k not in kept],
        )
        parts_meta = {}
        for part in parts:
            files = {f: temps[p] for f, p in file_paths[part.name].items()}
            part_diff = _export_part(part, temps[part_paths[part.name]], files)
            result.parts[part.name] = PartResult(part_paths[part.name], file_paths[part.name], part_diff)
            parts_meta[part.name] = _part_meta(part, result.parts[part.name])
        meta = _meta(pipe, result, named, expected, parts_meta)
        temps[meta_path].write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        for final in finals:
            os.replace(temps.pop(final), final)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    result.seconds = time.perf_counter() - start
    return result


def _meta(
    pipe: Pipeline,
    result: ExportResult,
    named: Mapping[str, Tensor],
    expected: Tensor,
    parts: Mapping[str, Any],
) -> dict[str, Any]:
    axes = _dynamic_axes(named, result.spatial == "dynamic")
    inputs = {
        k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch."), "dynamic_axes": axes[k]}
        for k, v in named.items()
        if k in result.inputs
    }
    return {
        "format": "i2i-onnx",
        "plugin": pipe.modality.name,
        "source": pipe.source,
        "file": result.model.name,
        "opset": OPSET,
        "exporter": f"torch.onnx.export (TorchScript, dynamo=False), torch {torch.__version__}",
        "inputs": inputs,
        "unused_fields": result.dropped,
        "output": {
            "name": "image",
            "shape": list(expected.shape),
            "dtype": "float32",
            "range": [-1, 1],
            "dynamic_axes": axes["image"],
        },
        "spatial": result.spatial,
        "size_multiple": pipe.size_multiple,
        "noise_dim": int(pipe.generator.noise_dim),
        "max_abs_diff": result.max_abs_diff,
        "parts": dict(parts),
        "note": NOTE,
        "config": json.loads(pipe.config.to_json()),
    }
