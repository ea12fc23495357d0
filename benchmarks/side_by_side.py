"""Timing an anchor's original code beside i2i in one process (shared by the bench_<anchor>.py
scripts): every repetition runs each variant once, in turn, so a change in the machine's load hits
all of them alike; wall and CPU seconds are both kept (on a shared machine the CPU time is the
steadier of the two: waiting for a core counts in the wall time only)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(
    variants: Mapping[str, Callable[[], Any]], reps: int, log: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """{"wall_seconds", "cpu_seconds": runs per variant, "median_wall_seconds", "median_cpu_seconds"}."""
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for rep in range(reps):
        for key, fn in variants.items():
            w, c = timed(fn)
            wall[key].append(w)
            cpu[key].append(c)
        log(f"rep {rep + 1}/{reps}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in wall.items()))
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "median_wall_seconds": {k: statistics.median(v) for k, v in wall.items()},
        "median_cpu_seconds": {k: statistics.median(v) for k, v in cpu.items()},
    }
