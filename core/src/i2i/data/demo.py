"""Calling a plugin's demo-data writer (`Modality.demo_data`) the way docs/hooks.md documents it.

The writer's signature is `write(out: Path, n: int = ..., seed: int = 0) -> None`. When the user
gives no sample count (`i2i data demo NAME` without `--n`), the core leaves `n` out so the
writer's own default applies; a writer whose `n` has no default gets `DEFAULT_N`. `n` is never
None: a writer written from the docs can use it as an int.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from i2i.errors import I2IError
from i2i.modality import Modality, resolve_object

DEFAULT_N = 64  # samples written for a writer whose `n` has no default, when --n is not given


def needs_n(writer: Any) -> bool:
    """Whether `writer` has a parameter `n` without a default (so the core must pass one)."""
    try:
        param = inspect.signature(writer).parameters.get("n")
    except (TypeError, ValueError):  # a builtin or C callable without a signature: pass n
        return True
    return param is not None and param.default is inspect.Parameter.empty


def write_demo(modality: Modality, out: str | Path, n: int | None = None, seed: int = 0) -> None:
    """Write `modality`'s demo data set to `out`: `n` samples, or the writer's default count."""
    if not modality.demo_data:
        raise I2IError(f"plugin {modality.name} has no demo data set")
    if n is not None and n < 1:
        raise I2IError(f"i2i data demo: --n must be at least 1, got {n}")
    writer = resolve_object(modality.demo_data)
    if n is None and needs_n(writer):
        n = DEFAULT_N
    kwargs: dict[str, Any] = {"seed": int(seed)}
    if n is not None:
        kwargs["n"] = int(n)
    writer(Path(out), **kwargs)
