"""Checkpoints without pickle: tensors in .safetensors, structure and config as JSON metadata.

Model file: the (EMA) generator and conditioner weights plus the resolved config, enough for
`i2i-run --checkpoint F` to rebuild the model. Run state: every tensor and number needed for
`--resume` to continue bit for bit (networks, optimizers, EMA, scaler, RNG states, data position),
plus its step as a plain metadata entry, so listing and pruning order states by the step they
hold without loading them. Both are written through `i2i.engine.atomic.write_atomic` (fresh
temporary file in the same folder, fsync, rename, fsync of the folder), so a crash mid-write
leaves the previous file intact.

Checksums. A torn file fails to parse, but a flipped bit parses fine, so each file carries a
SHA-256 in its metadata (`sha256`) and loading checks it; a corrupted run state is then skipped
like a torn one (resume falls back to the one before). Files written since `sha256_scope` exists
(``"tensors+metadata"``) hash every metadata entry except the digest itself (sorted, as canonical
JSON), then every tensor's name, dtype, shape and bytes: a flipped step, RNG state or config in
the header is caught like a flipped weight. Older files are still read: without `sha256_scope`
the digest covers the tensors only (checked as such), and files from before digests have none.
A single corrupted byte cannot turn a new file into an old one unnoticed: a damaged
`sha256_scope` key leaves a full digest that the tensors-only check rejects, a damaged value is an
unknown scope, and a damaged `sha256` key is a missing digest where the scope says there is one.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from i2i.engine.atomic import write_atomic
from i2i.errors import InputError

MODEL_FORMAT = "i2i.model/1"
STATE_FORMAT = "i2i.state/1"
MAX_HEADER = 100 * 1024 * 1024
SCOPE_KEY = "sha256_scope"
SCOPE_ALL = "tensors+metadata"  # what `sha256` covers in files written now


def _flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace tensors in a nested structure by {"__tensor__": key} and collect them."""
    if isinstance(obj, torch.Tensor):
        key = prefix or "_"
        tensors[key] = obj.detach().cpu()  # made contiguous one at a time while writing
        return {"__tensor__": key}
    if isinstance(obj, Mapping):
        return {"__dict__": [[_key(k), _flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "__list__" if isinstance(obj, list) else "__tuple__"
        return {kind: [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix!r} in a checkpoint")


def _key(k: Any) -> Any:
    if isinstance(k, (str, int)):
        return k
    raise TypeError(f"unsupported key type {type(k).__name__}")


def _unflatten(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [_unflatten(v, tensors) for v in obj["__list__"]]
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
    return obj


def _digest_update(h: Any, key: str, t: torch.Tensor) -> None:
    h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
    if t.numel():
        h.update(_raw(t))


def _raw(t: torch.Tensor) -> memoryview:
    """A contiguous CPU tensor's buffer as bytes (no copy; any dtype, bf16 included)."""
    return memoryview(t.reshape(-1).view(torch.uint8).numpy())


def _metadata_bytes(metadata: Mapping[str, str]) -> bytes:
    """The metadata the digest covers: every entry but the digest, as canonical JSON."""
    covered = {k: v for k, v in metadata.items() if k != "sha256"}
    return json.dumps(covered, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _new_digest(metadata: Mapping[str, str] | None) -> Any:
    """A SHA-256 that has taken in `metadata` (None: the tensors-only digest of older files)."""
    h = hashlib.sha256()
    if metadata is not None:
        h.update(b"i2i-metadata|" + _metadata_bytes(metadata) + b"|")
    return h


def tensors_digest(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> str:
    """SHA-256 over names, dtypes, shapes and raw bytes, independent of the file's layout; with
    `metadata`, over the metadata (`_metadata_bytes`) first."""
    h = _new_digest(metadata)
    for key in sorted(tensors):
        _digest_update(h, key, tensors[key].detach().contiguous().cpu())
    return h.hexdigest()


_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
           torch.uint8: "U8", torch.bool: "BOOL"}  # fmt: skip
_DIGEST_PLACEHOLDER = "0" * 64


def _write_streaming(fh: BinaryIO, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a .safetensors file one tensor at a time, hashing as it goes.

    safetensors' own writer needs every tensor contiguous up front; weights and optimiser moments
    of a channels_last model are not, so a run state would first be copied whole (hundreds of MB
    for pix2pix) and the copy serialised. Here each tensor is made contiguous, hashed and written
    on its own, then the digest is put into the header, whose length it does not change (64 hex
    digits either way). The file is read back by the library: the layout is its documented one.
    """
    keys = sorted(tensors)
    header: dict[str, Any] = {}
    offset = 0
    for key in keys:
        t = tensors[key]
        size = t.numel() * t.element_size()
        header[key] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size

    def encoded(digest: str) -> bytes:
        raw = json.dumps({"__metadata__": {**metadata, "sha256": digest}, **header}, separators=(",", ":"))
        return raw.encode() + b" " * (-len(raw.encode()) % 8)

    first = encoded(_DIGEST_PLACEHOLDER)
    h = _new_digest(metadata)
    fh.write(struct.pack("<Q", len(first)) + first)
    for key in keys:
        t = tensors[key].detach().contiguous().cpu()
        _digest_update(h, key, t)
        if t.numel():
            fh.write(_raw(t))
    fh.seek(8)
    fh.write(encoded(h.hexdigest()))


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a checkpoint file atomically (`write_atomic`), its digest over metadata and tensors."""
    metadata = {**metadata, SCOPE_KEY: SCOPE_ALL}

    def write(fh: BinaryIO) -> None:
        if all(t.dtype in _DTYPES for t in tensors.values()):
            _write_streaming(fh, tensors, metadata)
        else:  # a dtype the streaming writer does not name: the library's writer, in memory
            whole = {k: v.contiguous() for k, v in tensors.items()}
            digest = tensors_digest(whole, metadata)
            fh.write(save_bytes(whole, metadata={**metadata, "sha256": digest}))

    write_atomic(path, write)


def read_metadata(path: str | Path) -> dict[str, str]:
    """Read a .safetensors header without torch (cheap: used to find a checkpoint's plugin)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise InputError(path, "not a safetensors file (too short)")
            (length,) = struct.unpack("<Q", raw)
            if length > MAX_HEADER:
                raise InputError(path, "not a safetensors file (bad header length)")
            text = fh.read(length).decode("utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a safetensors file (bad header)") from None
    from i2i.data.jsonfile import parse_json  # bounded: a downloaded header may be hostile

    try:
        header = parse_json(text, path)
    except InputError as exc:
        raise InputError(path, f"not a safetensors file (bad header: {exc.problem})") from None
    if not isinstance(header, dict):
        raise InputError(path, "not a safetensors file (bad header)")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise InputError(path, "not a safetensors file (its __metadata__ must map names to strings)")
    return dict(meta)


def _load(path: Path, meta: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """The file's tensors, checked against its digest (see the module docstring for which)."""
    scope = meta.get(SCOPE_KEY)
    if scope is not None and scope != SCOPE_ALL:
        raise InputError(path, f"unknown checksum scope {str(scope)[:40]!r}: the file is corrupted or newer")
    if scope is not None and "sha256" not in meta:
        raise InputError(path, "checksum missing from its metadata: the file is corrupted")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for torn or foreign files
        raise InputError(path, f"cannot load checkpoint ({str(exc).splitlines()[0][:120]})") from None
    if "sha256" in meta and tensors_digest(tensors, meta if scope else None) != meta["sha256"]:
        raise InputError(path, "checksum does not match: the file is corrupted")
    return tensors


def save_model(
    path: str | Path,
    config_json: str,
    modules: Mapping[str, torch.nn.Module],
    extra: Mapping[str, str] | None = None,
    half: bool = False,
) -> None:
    """Write the inference model: each module's state dict under its name prefix.

    `half` stores floating-point tensors as float16: half the file for shipped models, and loading
    is unchanged (load_state_dict copies into the float32 modules). Run states are never halved.
    """
    from i2i import __version__

    tensors = {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    meta = {"format": MODEL_FORMAT, "config": config_json, "i2i_version": __version__, **(extra or {})}
    atomic_save_tensors(Path(path), tensors, meta)


def load_model(path: str | Path) -> tuple[dict[str, str], dict[str, dict[str, torch.Tensor]]]:
    """Return (metadata, {module name: state dict}) of a model file."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != MODEL_FORMAT or "config" not in meta:
        raise InputError(path, "not an i2i model file (no i2i config in its metadata)")
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in _load(path, meta).items():
        name, _, rest = key.partition(".")
        parts.setdefault(name, {})[rest] = value
    return meta, parts


def save_state(path: str | Path, state: Mapping[str, Any]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(dict(state), "", tensors)
    meta = {"format": STATE_FORMAT, "state": json.dumps(skeleton)}
    if isinstance(state.get("step"), int):
        meta["step"] = str(state["step"])
    atomic_save_tensors(Path(path), tensors, meta)


def load_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != STATE_FORMAT:
        raise InputError(path, "not an i2i run-state file")
    return _unflatten(json.loads(meta["state"]), _load(path, meta))


def state_path(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"state-{step:08d}.safetensors"


def _name_step(path: Path) -> int | None:
    digits = path.name[len("state-") : -len(".safetensors")]
    return int(digits) if digits.isdigit() else None


def state_step(path: Path) -> int | None:
    """The step a run state records (its `step` metadata; older states: inside the state's
    skeleton), without loading tensors; the file name's number when the header is unreadable.
    Not checksummed here: ordering uses it, loading still checks the whole file."""
    try:
        meta = read_metadata(path)
        if "step" in meta:
            return int(meta["step"])
        for key, value in json.loads(meta.get("state", "{}")).get("__dict__", []):
            if key == "step" and isinstance(value, int):
                return value
    except (InputError, ValueError, TypeError, AttributeError):
        pass
    return _name_step(path)


def list_states(run_dir: Path) -> list[Path]:
    """The run states of a run directory, oldest first by the step each records (not by name:
    names past 99,999,999 steps have more digits, and a file's name can be wrong after a copy)."""
    paths = list((Path(run_dir) / "checkpoints").glob("state-*.safetensors"))
    keyed = [(state_step(p), p) for p in paths]
    return [p for _, p in sorted(keyed, key=lambda sp: (sp[0] if sp[0] is not None else -1, sp[1].name))]


def prune_states(run_dir: Path, keep_last: int, keep: Path | None = None) -> list[Path]:
    """Delete all but the `keep_last` run states of highest step. `keep` (the state just written)
    is never deleted, whatever the others record: a stale or damaged state claiming a later step
    must not push out the newest good one. Returns the deleted paths."""
    states = list_states(run_dir)
    others = [p for p in states if keep is None or p != Path(keep)]
    budget = max(1, keep_last) - (1 if keep is not None and Path(keep) in states else 0)
    doomed = others[: max(0, len(others) - budget)]
    for old in doomed:
        old.unlink(missing_ok=True)
    return doomed
