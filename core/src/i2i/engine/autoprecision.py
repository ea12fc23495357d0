"""`precision: auto` decided by measurement, cached per machine and model shape.

Whether bf16 (or fp16) autocast helps depends on the model, not only on the chip: on a 2-core AMX
Xeon bf16 made the pix2pix step 1.3x faster but halved the speed of a small 64 px model (0.31 vs
0.62 steps/s), because its convolutions are too small to amortise the casts. So the trainer times
a few steps of the actual model in each candidate precision before training, keeps the fastest and
logs every timing; the answer is cached (`~/.cache/i2i/precision.json`, under `XDG_CACHE_HOME`)
keyed by the machine, the torch version and a digest of the model config and batch shape, so a
second run of the same model on the same machine starts at once.

How the trainer uses it (bit-exact resume and results must not depend on the measurement):

    candidates = precision_candidates(device)
    key = precision_cache_key(device, config.model, {"target": batch["target"].shape})
    precision, timings = choose_precision(candidates, time_step, key)

- `time_step(precision)` returns the seconds one training step takes in `precision`: it runs the
  real step (conditioner, G and D forward/backward, the optimiser update) on *copies*
  (`copy.deepcopy` of the networks, a fresh optimiser of the same kind over the copies, a fresh
  `GradScaler` for fp16) and one batch already in memory, inside `preserved_rng()`, typically via
  `measure_step(lambda: step(copies, batch, precision), steps=3, warmup=1, sync=...)`. Never the
  real networks (batch-norm running statistics and optimiser moments would change), never the
  real optimiser, scaler or EMA, and never a batch drawn from the data stream (that would shift
  every later sample). Then training starts from exactly the state it would have had without the
  measurement.
- Call it once, at the start of a *new* run. A resumed run keeps the precision stored in its run
  state: re-measuring could pick another precision and break bit-exact resume.
- Under torchrun, measure on rank 0 and broadcast the name: timings differ between processes and
  every rank must train in the same precision.
- An explicit `precision: fp32|bf16|fp16` skips all of this.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from i2i.engine.atomic import write_text_atomic
from i2i.engine.device import Precision
from i2i.metrics.judges import cache_dir

log = logging.getLogger("i2i.train.precision")

CACHE_VERSION = 1
"""Bumped when the measurement changes meaning, so old cached answers are not reused."""

DEFAULT_MARGIN = 0.05
"""A candidate after the first must be at least this much faster (5%) to be chosen: lower
precision is a small risk to quality, worth taking only for a real speed-up, not for noise."""


def default_cache_path() -> Path:
    """Where the measured choices live: `$XDG_CACHE_HOME/i2i/precision.json` (~/.cache by default)."""
    return cache_dir() / "precision.json"


def machine_name(device: torch.device) -> str:
    """What the speed of a step depends on besides the model: the chip and, on CPU, the threads.

    CPU: the model name from /proc/cpuinfo (platform.processor() elsewhere) and torch's thread
    count, since a 2-thread and a 16-thread run of one CPU may prefer different precisions. CUDA:
    the GPU's name.
    """
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{torch.cuda.get_device_name(index)}"
    if device.type != "cpu":
        return device.type
    name = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[-1].strip()
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown"
    return f"cpu:{' '.join(name.split())} x{torch.get_num_threads()} threads"


def precision_cache_key(
    device: torch.device,
    model_config: Mapping[str, Any] | str,
    shapes: Mapping[str, Sequence[int]] | Sequence[int],
) -> str:
    """The cache key of one measurement: machine, torch version, and a digest of model and shapes.

    `model_config` is what builds the networks (the config's `model` section, or any string that
    names them); `shapes` the batch shape(s) a step sees, e.g. `{"target": (1, 3, 256, 256)}`.
    A different model, batch size or crop is a different key, because the answer may differ.
    """
    if isinstance(shapes, Mapping):
        shape_part: Any = {str(k): [int(v) for v in s] for k, s in sorted(shapes.items())}
    else:
        shape_part = [int(v) for v in shapes]
    config_part = model_config if isinstance(model_config, str) else _plain(model_config)
    blob = json.dumps({"model": config_part, "shapes": shape_part}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return f"{machine_name(device)} | torch {torch.__version__} | {digest}"


def _plain(value: Any) -> Any:
    """Config objects -> JSON-able dicts/lists, so the digest is of the values, not of reprs."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block and then put every random generator back as it was (torch CPU and CUDA, Python's
    `random`, NumPy's global), so timing steps (dropout, noise) leave training's draws unchanged."""
    import numpy as np

    cpu = torch.get_rng_state()
    cuda = (
        torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    )
    py = random.getstate()
    npy = np.random.get_state()
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        random.setstate(py)
        np.random.set_state(npy)


def measure_step(
    step: Callable[[], object],
    steps: int = 3,
    warmup: int = 1,
    sync: Callable[[], None] | None = None,
) -> float:
    """Seconds per call of `step`: the median of `steps` timed calls after `warmup` untimed ones.

    The warm-up absorbs one-off costs (oneDNN/cuDNN kernel selection, allocator growth, lazy
    initialisation) that would otherwise be charged to whichever precision runs first. `sync` (e.g.
    `torch.cuda.synchronize`) is called before each clock read, since CUDA kernels run
    asynchronously. The median resists one slow call from a busy machine.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        if sync is not None:
            sync()
        start = time.perf_counter()
        step()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _read_cache(path: Path) -> dict[str, Any]:
    """The cache file's entries, or {} when it is missing, torn or not ours: never trusted blindly."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if (
        not isinstance(data, dict)
        or data.get("version") != CACHE_VERSION
        or not isinstance(data.get("entries"), dict)
    ):
        return {}
    return data["entries"]


def _write_cache(path: Path, key: str, entry: dict[str, Any]) -> None:
    """Add one entry, atomically (temporary file + rename); an unwritable cache only costs a re-measure."""
    entries = _read_cache(path)
    entries[key] = entry
    try:
        write_text_atomic(
            path, json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1, sort_keys=True)
        )
    except OSError as exc:
        log.warning("precision auto: cannot write the cache %s (%s)", path, exc)


def _cached(entry: Any, names: Sequence[str]) -> tuple[str, dict[str, float]] | None:
    if not isinstance(entry, dict) or entry.get("choice") not in names:
        return None
    timings = entry.get("timings")
    if not isinstance(timings, dict) or not all(isinstance(v, (int, float)) for v in timings.values()):
        return None
    return entry["choice"], {str(k): float(v) for k, v in timings.items()}


def _format(timings: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {seconds * 1000:.1f} ms/step" for name, seconds in timings.items())


def choose_precision(
    candidates: Sequence[Precision],
    time_step: Callable[[Precision], float],
    cache_key: str,
    *,
    cache_path: Path | None = None,
    margin: float = DEFAULT_MARGIN,
    refresh: bool = False,
) -> tuple[Precision, dict[str, float]]:
    """Time each candidate precision with `time_step` and return (the fastest, seconds per step).

    `candidates` come safest first (`precision_candidates(device)`: fp32 first); a later one is
    chosen only when it is at least `margin` (5%) faster than the first, so measurement noise never
    moves a run off fp32. `time_step(p)` must return the seconds of one step in `p` and must not
    change the training state (see the module doc for how the trainer builds it); a candidate whose
    `time_step` raises (fp16 overflow, out of memory, an op without a bf16 kernel) or returns a
    non-finite or non-positive time is skipped with a logged reason. When every candidate fails,
    the first candidate's error is raised: the model cannot train in any precision.

    The answer is cached in `cache_path` (default `default_cache_path()`) under `cache_key`
    (`precision_cache_key`); a cached answer naming one of `candidates` is reused without timing
    anything (its timings are returned as measured then) unless `refresh`. The choice and every
    timing are logged on the `i2i.train.precision` logger, measured or cached.
    """
    if not candidates:
        raise ValueError("choose_precision needs at least one candidate")
    by_name = {p.name: p for p in candidates}
    path = cache_path if cache_path is not None else default_cache_path()
    if not refresh:
        hit = _cached(_read_cache(path).get(cache_key), list(by_name))
        if hit is not None:
            name, timings = hit
            log.info("precision auto: %s (cached for %s: %s)", name, cache_key, _format(timings))
            return by_name[name], timings

    timings: dict[str, float] = {}
    first_error: BaseException | None = None
    for precision in candidates:
        try:
            seconds = float(time_step(precision))
        except Exception as exc:
            first_error = first_error or exc
            log.info(
                "precision auto: %s skipped (%s)",
                precision.name,
                " ".join(str(exc).split()) or type(exc).__name__,
            )
            continue
        if not math.isfinite(seconds) or seconds <= 0:
            log.info("precision auto: %s skipped (time_step returned %r)", precision.name, seconds)
            continue
        timings[precision.name] = seconds
    if not timings:
        if first_error is not None:
            raise first_error
        raise RuntimeError("precision auto: no candidate precision gave a usable step time")

    baseline = candidates[0].name
    fastest = min(timings, key=lambda n: timings[n])
    if baseline in timings and fastest != baseline and timings[fastest] > timings[baseline] * (1 - margin):
        fastest = baseline  # not faster by the margin: keep the safe precision
    log.info("precision auto: %s (measured for %s: %s)", fastest, cache_key, _format(timings))
    entry = {
        "choice": fastest,
        "timings": timings,
        "torch": torch.__version__,
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_cache(path, cache_key, entry)
    return by_name[fastest], timings
