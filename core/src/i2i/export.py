"""`i2i export`: a model's generator as an ONNX file, for runtimes without Python or PyTorch.

What is exported is the GENERATOR, the part that is a fixed tensor program. Its `Condition` is
flattened into named tensor inputs ("maps", "vector", "tokens", "token_mask", "refs", and "z" for
models that take noise); the output is "image" in [-1, 1]. Which fields a model needs is found by
running its conditioner once on an example (a sample of the plugin's demo data, or of `--data`):
the fields it fills are traced, and those the generator never reads drop out of the graph.

The conditioner stays in Python: it reads files, detects keypoints, warps, one-hot encodes; a user
of the ONNX file must produce the same tensors (the JSON written beside the model says which, with
the example's shapes). The one exception is text2img's frozen text encoder, a plain tensor program
too: it is written as `<stem>.text_encoder.onnx` (input_ids, attention_mask -> vector, tokens,
token_mask) with its tokenizer as `<stem>.tokenizer.json`, so the whole text -> image path runs in
ONNX Runtime.

The batch axis is dynamic. Height and width are made dynamic too and checked at a second size; a
generator whose traced graph does not generalise (shapes baked in) is exported again at the
example's fixed size, and the JSON says which. Every export is checked against PyTorch with ONNX
Runtime before anything is moved into place, so a failed export leaves no file behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from copy import deepcopy as copy_module
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.errors import ConfigError, I2IError, InputError
from i2i.interfaces import Condition
from i2i.modality import resolve_object
from i2i.pipeline import Pipeline, draw_noise, load_pipeline

FORMATS = ("onnx",)
EXTRA_HINT = "ONNX export needs the export extra: pip install 'i2i-core[export]'"
OPSET = 17
TOLERANCE = 1e-3  # max abs difference to PyTorch, on images in [-1, 1]
FIELDS = tuple(f.name for f in fields(Condition))
SPATIAL = ("maps", "refs")  # (B, C, H, W) fields whose H and W may be dynamic
NOTE = (
    "Inputs are the Condition the plugin's conditioner makes from raw inputs (files, keypoints, "
    "warps, one-hot labels, identity or style embeddings), which is not part of this file; z is "
    "standard normal noise. The output image is (B, 3, H, W) in [-1, 1]."
)


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
    text_encoder: Path | None = None
    tokenizer: Path | None = None
    text_encoder_diff: float | None = None


def require_onnx() -> tuple[Any, Any]:
    """(onnx, onnxruntime), or a one-line ConfigError naming the extra that installs them."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ConfigError(EXTRA_HINT) from None
    return onnx, onnxruntime


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
    """Positional tensors (Condition fields in `names`, then z) -> Condition -> generator -> image."""

    def __init__(self, generator: nn.Module, names: Sequence[str], noise: bool) -> None:
        super().__init__()
        self.generator = generator
        self.names = list(names)
        self.noise = noise

    def forward(self, *tensors: Tensor) -> Tensor:
        given = dict(zip(self.names, tensors))
        z = tensors[len(self.names)] if self.noise else None
        return self.generator(Condition(**given), z).float()


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


def _inputs(pipe: Pipeline, cond: Condition, seed: int = 0) -> dict[str, Tensor]:
    """The named graph inputs for a condition: its filled fields, then z when the model takes noise."""
    named = {k: v for k, v in cond._tensors().items()}
    dim = int(getattr(pipe.generator, "noise_dim", 0))
    if dim:
        named["z"] = draw_noise(cond.batch_size, dim, seed)
    return named


def _dynamic_axes(named: Mapping[str, Tensor], spatial: bool) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for name, t in named.items():
        axes[name] = {0: "batch"}
        if name in ("tokens", "token_mask"):
            axes[name][1] = "length"  # captions differ in token count
        if spatial and name in SPATIAL and t.dim() == 4:
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
    `fold=False` keeps every parameter as an initializer under its own name (text2img's weightless
    encoder graph relies on that)."""
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


def _session(onnxruntime: Any, path: Path) -> Any:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings on stderr for initializers kept as constants
    # idle ONNX Runtime threads spin by default, starving the PyTorch runs compared against them
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(session: Any, named: Mapping[str, Tensor]) -> list[Any]:
    wanted = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v.numpy() for k, v in named.items() if k in wanted})


def _resize(cond: Condition, size: tuple[int, int]) -> Condition:
    def scale(t: Tensor) -> Tensor:
        if t.dim() != 4:
            return t
        return F.interpolate(t.float(), size=size, mode="nearest").to(t.dtype)

    return replace(cond, **{k: scale(v) for k, v in cond._tensors().items() if k in SPATIAL})


def _other_size(pipe: Pipeline, cond: Condition) -> tuple[int, int] | None:
    """A second, non-square size, a multiple of the generator's, to check dynamic H and W at."""
    if cond.maps is None and cond.refs is None:
        return None
    h, w = (cond.maps if cond.maps is not None else cond.refs).shape[-2:]  # type: ignore[union-attr]
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

    return Condition(**{k: torch.cat([v, second(k, v)]) for k, v in cond._tensors().items()})


@torch.no_grad()
def _compare(pipe: Pipeline, graph: nn.Module, session: Any, cond: Condition, seed: int) -> float:
    named = _inputs(pipe, cond, seed)
    expected = graph(*named.values()).numpy()
    (got,) = _run(session, named)
    if got.shape != expected.shape:
        return float("inf")
    return float(abs(got - expected).max())


# ---- the text encoder (text2img) ------------------------------------------------------------------
def _text_encoder(conditioner: nn.Module) -> tuple[nn.Module, Any, int] | None:
    """(module: input_ids, attention_mask -> vector, tokens, token_mask; tokenizer; max tokens) of a
    conditioner that holds a frozen Hugging Face text encoder outside its state dict and offers it
    through `text_encoder()` (text2img's TextConditioner), else None."""
    method = getattr(conditioner, "text_encoder", None)
    return method() if callable(method) else None


def _tokenizer_json(tokenizer: Any, limit: int, path: Path) -> bool:
    """The fast tokenizer as one tokenizer.json, set to pad and truncate as the conditioner does;
    False where the tokenizer has no fast (Rust `tokenizers`) backend."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(backend.to_str())
    tok.enable_truncation(max_length=limit)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    tok.enable_padding(pad_id=pad_id, pad_token=tokenizer.pad_token or "[PAD]")
    tok.save(str(path))
    return True


@torch.no_grad()
def _export_text_encoder(
    pipe: Pipeline, captions: Sequence[str], model_path: Path, tok_path: Path, onnxruntime: Any
) -> tuple[float, bool, dict[str, Any]]:
    found = _text_encoder(pipe.conditioner)
    assert found is not None
    graph, tokenizer, limit = found
    texts = [*captions, "a bird"]  # two lengths: padding is part of the traced graph
    enc = tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    named = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    axes = {
        name: {0: "batch", 1: "length"} for name in ("input_ids", "attention_mask", "tokens", "token_mask")
    }
    axes["vector"] = {0: "batch"}
    training = [m.training for m in graph.modules()]
    try:
        onnx_export(graph, named, ("vector", "tokens", "token_mask"), model_path, axes)
    finally:  # the exporter restores the wrapper's mode onto the wrapped model
        for m, mode in zip(graph.modules(), training):
            m.training = mode
    session = _session(onnxruntime, model_path)
    check = [*texts, "a small yellow bird with a long pointed beak and grey wings"]
    enc = tokenizer(check, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    got = session.run(
        None, {"input_ids": enc["input_ids"].numpy(), "attention_mask": enc["attention_mask"].numpy()}
    )
    vector, tokens, _ = graph(enc["input_ids"], enc["attention_mask"])  # PyTorch, the reference
    diff = max(float(abs(got[0] - vector.numpy()).max()), float(abs(got[1] - tokens.numpy()).max()))
    wrote_tokenizer = _tokenizer_json(tokenizer, limit, tok_path)
    info = {
        "inputs": {"input_ids": "int64 (B, T)", "attention_mask": "int64 (B, T), 1 for real tokens"},
        "outputs": {
            "vector": f"float32 (B, {vector.shape[1]})",
            "tokens": f"float32 (B, T, {tokens.shape[2]})",
            "token_mask": "bool (B, T)",
        },
        "encoder": getattr(pipe.conditioner, "encoder_name", None),
        "max_length": limit,
        "max_abs_diff": diff,
    }
    return diff, wrote_tokenizer, info


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
    """Export a model's generator (and text2img's text encoder) to ONNX beside a JSON description.

    `source` is what `load_pipeline` takes (model file, run directory, plugin name). Writes `out`
    (must end in .onnx), `<stem>.json` and, for a text encoder, `<stem>.text_encoder.onnx` and
    `<stem>.tokenizer.json`; all are written to temporary files, checked with ONNX Runtime against
    PyTorch, and only then moved into place.
    """
    check_format(fmt)
    onnx, onnxruntime = require_onnx()
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
    named = _inputs(pipe, cond)
    names = [k for k in named if k != "z"]
    noise = "z" in named
    graph = GeneratorGraph(pipe.generator, names, noise).eval()  # PyTorch's reference
    traced = GeneratorGraph(baked(pipe.generator), names, noise).eval()  # what is exported
    meta_path = out.with_suffix(".json")
    enc_path = out.with_name(out.stem + ".text_encoder.onnx")
    tok_path = out.with_name(out.stem + ".tokenizer.json")
    temps = {p: _temp_beside(p) for p in (out, meta_path, enc_path, tok_path)}
    try:
        other = _other_size(pipe, cond)
        spatial = "none" if other is None else "dynamic"
        with torch.no_grad():
            expected = graph(*named.values())
        onnx_export(traced, named, ("image",), temps[out], _dynamic_axes(named, other is not None))
        if other is not None and not _generalises(pipe, graph, onnxruntime, temps[out], _resize(cond, other)):
            spatial = "fixed"
            onnx_export(traced, named, ("image",), temps[out], _dynamic_axes(named, False))
        onnx.checker.check_model(str(temps[out]))
        session = _session(onnxruntime, temps[out])
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
        text_info = None
        if _text_encoder(pipe.conditioner) is not None:
            captions = batch.get("caption") or ["a small bird"]
            captions = [captions] if isinstance(captions, str) else list(captions)
            enc_diff, wrote_tok, text_info = _export_text_encoder(
                pipe, captions, temps[enc_path], temps[tok_path], onnxruntime
            )
            if enc_diff > TOLERANCE:
                raise I2IError(f"ONNX export of the text encoder differs from PyTorch by {enc_diff:.2g}")
            result.text_encoder, result.text_encoder_diff = enc_path, enc_diff
            text_info["file"] = enc_path.name
            if wrote_tok:
                result.tokenizer = tok_path
                text_info["tokenizer"] = tok_path.name
        meta = _meta(pipe, result, named, expected, text_info)
        temps[meta_path].write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        for final in (out, meta_path, enc_path, tok_path):
            if final in (result.model, result.meta, result.text_encoder, result.tokenizer):
                os.replace(temps.pop(final), final)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    result.seconds = time.perf_counter() - start
    return result


@torch.no_grad()
def _generalises(pipe: Pipeline, graph: nn.Module, onnxruntime: Any, path: Path, cond: Condition) -> bool:
    """Whether the graph traced with dynamic H and W gives PyTorch's output at another size."""
    try:
        session = _session(onnxruntime, path)
        return _compare(pipe, graph, session, cond, 2) <= TOLERANCE
    except Exception:  # a generator or a graph that cannot run at that size: fixed size
        return False


def _meta(
    pipe: Pipeline,
    result: ExportResult,
    named: Mapping[str, Tensor],
    expected: Tensor,
    text_info: dict[str, Any] | None,
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
        "noise_dim": int(getattr(pipe.generator, "noise_dim", 0)),
        "max_abs_diff": result.max_abs_diff,
        "text_encoder": text_info,
        "note": NOTE,
        "config": json.loads(pipe.config.to_json()),
    }
