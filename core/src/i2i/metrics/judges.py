"""Proxy judges: small networks trained on real data to score generated images offline.

A plugin's judge (an attribute classifier, a segmenter) is trained once per data set and cached
under the user cache folder, keyed by a digest of what it was trained on, so evaluating many
checkpoints (or re-running `i2i eval`) shares one judge. A torn or stale cache file is retrained,
never trusted; writes are atomic. `fit_judge` is the training loop they share (seeded, Adam, one
loss per step), `judge_input` the resize to the judge's working size.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

M = TypeVar("M", bound=nn.Module)


def cache_dir() -> Path:
    """i2i's user cache folder, `$XDG_CACHE_HOME/i2i` (default ~/.cache/i2i): judges and measured
    precisions are kept there, outside any run directory, so every run on the machine shares them."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "i2i"


def digest(parts: Iterable[bytes | str]) -> str:
    """A short stable key of everything a judge depends on (data files, sizes, judge version)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def cached_judge(path: Path, build: Callable[[], M], train: Callable[[M], None]) -> M:
    """The judge stored at `path` if it loads, else `build()` trained by `train` and stored.

    Name `path` after `digest` of everything the judge depends on, so a changed data set or judge
    gets a new file instead of reusing a stale one."""
    from safetensors.torch import load_file, save_file

    model = build()
    if path.exists():
        try:
            model.load_state_dict(load_file(path))
            return model.eval()
        except Exception:  # torn, stale or foreign: retrain
            model = build()
    train(model)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp))
        tmp.replace(path)
    except OSError:
        pass  # no writable cache: the judge is retrained next time
    return model.eval()


def fit_judge(
    model: M, steps: int, loss: Callable[[int, random.Random], Tensor], seed: int = 0, lr: float = 2e-3
) -> M:
    """Train a judge: `steps` Adam steps (learning rate `lr`) on `loss(step, rng)`, in train mode,
    then returned in eval mode.

    `torch.manual_seed(seed)` and `rng = random.Random(seed)` are set first, so a judge is the same
    on every run: draw batch indices from `rng` (and flip on odd steps, say) inside `loss`. The same
    data and seed give the same weights, which is what makes its cached file reusable.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        value = loss(step, rng)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return model.eval()


def judge_input(images: Tensor, size: int) -> Tensor:
    """(B, C, H, W) images at `size` x `size` for a judge (bilinear with antialiasing, so a
    downscale averages rather than aliases); returned as is when already that size."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
