"""Keeping freed memory for reuse: why i2i's commands tune the C allocator.

A generator's feature maps are tens to hundreds of megabytes. glibc's malloc serves every block
above its mmap threshold (at most 32 MiB) with a fresh `mmap` and unmaps it on `free`, so each
layer's output is page-faulted in again, the kernel zeroing every page first: on this project's
2-core CPU a Real-ESRGAN x4 pass on a 512x512 photo spent more than half of its time doing that
(`benchmarks/bench_esrgan.py` measures the original code both ways). PyTorch's CPU allocator has
no cache of its own, so the remedy is malloc's: `keep_freed_memory` serves large blocks from the
heap and never trims it (`M_MMAP_MAX = 0`, `M_TRIM_THRESHOLD` = the maximum), and the next layer
reuses the pages the last one freed.

The price: the process keeps the memory of its peak until it exits, and freed blocks of mixed
sizes can leave holes, so peak RSS may be somewhat higher (the benchmarks report it beside the
speed). That suits commands that run one job and exit: `i2i-run` and `i2i` (serve, eval, export)
call it first thing. `i2i-train` does not: at the usual training sizes its feature maps are below
glibc's mmap threshold anyway, and there it bought 2% speed for 7% more peak memory (pix2pix,
256x256, batch 1). A notebook or service may call it too, before its first large tensor.
`I2I_MALLOC=system` leaves malloc as it is. Without glibc (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Make malloc keep freed memory for reuse (see the module docstring); True when it now does.
    Idempotent; off with I2I_MALLOC=system; False where the C library is not glibc."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("I2I_MALLOC", "").strip().lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    # glibc only: musl has mallopt too but ignores these options
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _INT_MAX))
    return _done
