"""Reading checkpoint files written by other projects' code (`torch.save` of state dicts).

Every importer of published weights starts the same way: load the file without unpickling code
(`torch.load(weights_only=True)`), turn any failure into one line naming the file, find the state
dict inside the usual wrappers and drop the ``module.`` prefix that (Distributed)DataParallel adds.
What each importer then reads off the keys and shapes is its own.

torch is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.errors import I2IError, InputError

if TYPE_CHECKING:
    from torch import Tensor, nn

WRAPPER_KEYS = ("state_dict", "netG", "net_G", "G", "generator", "model", "params")
SAFE_TORCH = (2, 6)  # below it, torch.load(weights_only=True) can run code (CVE-2025-32434)


def check_safe_torch(version: str | None = None) -> None:
    """Refuse to unpickle downloaded files with a torch whose `weights_only` loader is exploitable.

    The packages require torch>=2.6 already; this catches an environment that was downgraded or
    installed with ``--no-deps``, where a hostile `.pth` could otherwise run code.
    """
    import re

    import torch

    version = version or torch.__version__
    parts = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    if parts < SAFE_TORCH:
        raise I2IError(
            f"torch {version} cannot load .pth files safely (weights_only loading is exploitable "
            "below 2.6, CVE-2025-32434): pip install 'torch>=2.6'"
        )


def load_torch_file(path: str | Path, what: str = "") -> Any:
    """The object in a `torch.save` file, loaded with ``weights_only=True`` on the CPU.

    `what` names the expected content in the error ("not a PyTorch DF-GAN generator checkpoint").
    Raises InputError for a missing file and for anything torch refuses (pickle, zip and safety
    errors all mean "not a usable checkpoint").
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    check_safe_torch()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        kind = f"{what} " if what else ""
        raise InputError(path, f"not a PyTorch {kind}checkpoint ({type(exc).__name__}: {first})") from None


def tensor_state(obj: Any) -> dict[str, Tensor] | None:
    """`obj` as a non-empty state dict of tensors (``module.`` prefix dropped), else None."""
    import torch

    if not (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        return None
    state = dict(obj)
    if all(k.startswith("module.") for k in state):  # saved from (Distributed)DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def read_state_dict(path: str | Path, wrappers: Sequence[str] = WRAPPER_KEYS) -> dict[str, Tensor]:
    """The state dict in `path`: the file itself or the first of `wrappers` that holds one."""
    obj = load_torch_file(path)
    state = tensor_state(obj)
    if state is None and isinstance(obj, Mapping):
        state = next((s for k in wrappers if (s := tensor_state(obj.get(k))) is not None), None)
    if state is None:
        raise InputError(Path(path), f"not a state dict of tensors (got {type(obj).__name__})")
    return state


def build_for_weights(
    build: Callable[[], nn.Module], state: Mapping[str, Tensor], path: str | Path, what: str = "generator"
) -> nn.Module:
    """`build()`, after checking on the meta device (no memory) that the network it makes is no
    larger than the weights that are to fill it.

    An architecture read off a file (or a config stored in one) decides how much memory is
    allocated before the weights are compared with it: a hostile `ngf: 4096`, or a first weight of
    shape (2048, 3, 4, 4) from which a width of 2048 is inferred, would allocate tens of GB and
    fail only afterwards. The weights are already in memory, so their size is the honest bound.
    """
    import torch

    with torch.device("meta"):
        probe = build()
    wanted = sum(t.numel() for t in probe.state_dict().values())
    have = sum(t.numel() for t in state.values())
    if wanted > have + have // 20 + 4096:  # slack: buffers a file may leave out
        raise InputError(path, f"the {what} it describes needs {wanted:,} values but the file holds {have:,}")
    return build()


__all__ = [
    "SAFE_TORCH",
    "WRAPPER_KEYS",
    "build_for_weights",
    "check_safe_torch",
    "load_torch_file",
    "read_state_dict",
    "tensor_state",
]
