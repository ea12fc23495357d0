"""Temporal mode for the spatial plugins (translation, label maps): video frames that do not flicker.

A per-frame generator turns every small change of the input (film grain, compression noise, a
slightly different edge map) into a change of the output, so a translated video shimmers even
where nothing moves. In temporal mode the generator also sees its own previous output frame
(`Condition.previous`), optionally moved to the current frame by RAFT optical flow, and learns a
per-pixel mask that blends it with the frame it would have drawn alone:

    out = m * previous + (1 - m) * G(cond),   m = sigmoid(small CNN(G(cond), previous, |difference|))

It is trained on consecutive frames (t-1, t) of frame folders, with the frame t-1 generated first
exactly as at inference, and a temporal loss that asks the output to change between the frames as
much as the real frames do (and no more): L1((fake_t - fake_t-1) - (real_t - real_t-1)).

The wrapper is network-agnostic: any generator of a spatial plugin gains the mode by config
(`temporal.enabled: true`), its own architecture unchanged.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from i2i.errors import ConfigError
from i2i.interfaces import Condition, Generator

RAFT_MIN_SIDE = 128
PREVIOUS = "previous"  # batch key of the previous output frame
PREFIX = "prev_"  # batch keys of the previous frame's sample (prev_input, prev_target, ...)
NOISE = "_noise"  # batch key of the noise both frames of a training pair share


class TemporalGenerator(Generator):
    """Any generator plus the blending mask; without a previous frame it is the generator itself."""

    def __init__(self, inner: Generator, channels: int = 16) -> None:
        super().__init__()
        self.inner = inner
        self.noise_dim = int(inner.noise_dim)
        self.mask = nn.Sequential(
            nn.Conv2d(9, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 1, 3, padding=1),
        )
        nn.init.zeros_(self.mask[-1].weight)
        nn.init.constant_(self.mask[-1].bias, -2.0)  # starts as the plain generator (m ~ 0.12)

    @property
    def size_multiple(self) -> int:
        return int(self.inner.size_multiple)

    @property
    def tileable(self) -> bool | None:
        """The inner generator's declaration (the blending mask itself is local)."""
        return getattr(self.inner, "tileable", None)

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        out = self.inner(replace(cond, previous=None), z)
        if cond.previous is None:
            return out
        prev = match_size(cond.previous.to(out.dtype), out.shape[-2:])
        m = torch.sigmoid(self.mask(torch.cat([out, prev, (out - prev).abs()], 1)))
        return m * prev + (1 - m) * out


def match_size(image: Tensor, size: torch.Size | tuple[int, int]) -> Tensor:
    """The previous frame at the output's size: inference pads inputs at the bottom and right to
    the generator's size multiple, so a smaller previous frame is padded the same way."""
    h, w = image.shape[-2:]
    if (h, w) == tuple(size):
        return image
    if h <= size[0] and w <= size[1]:
        return F.pad(image, (0, size[1] - w, 0, size[0] - h), mode="replicate")
    return F.interpolate(image, size=tuple(size), mode="bilinear", align_corners=False)


def with_previous(cond: Condition, batch: Mapping[str, Any]) -> Condition:
    """The condition with the batch's previous output frame, where it has one: set here, by the
    engine and the pipeline alike, so no conditioner needs to know about temporal mode."""
    return replace(cond, previous=batch[PREVIOUS]) if PREVIOUS in batch else cond


def temporal_loss(fake: Tensor, fake_prev: Tensor, real: Tensor, real_prev: Tensor) -> Tensor:
    """The output should change between two frames exactly as the real frames change."""
    return F.l1_loss((fake - fake_prev).float(), (real - real_prev).float())


class ConsecutiveFrames(Dataset):
    """Pairs (t-1, t) of a frame-ordered dataset; both frames get the same random crop and flip
    (one seed), and the t-1 sample's entries are prefixed `prev_`.

    The base dataset says which sample precedes which through `previous_index(i)` (None for the
    first frame of a clip)."""

    def __init__(self, base: Any) -> None:
        if not callable(getattr(base, "previous_index", None)):
            raise ConfigError(
                f"temporal.enabled: {type(base).__name__} has no frame order (previous_index); "
                "temporal mode needs a dataset of video frames"
            )
        self.base = base
        self.frames = [i for i in range(len(base)) if base.previous_index(i) is not None]
        if not self.frames:
            raise ConfigError(
                f"temporal.enabled: {getattr(base, 'root', 'the data')}: no consecutive frames "
                "(put each clip's frames, named in order, in a folder of its own)"
            )

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        now = self.frames[int(index)]
        before = self.base.previous_index(now)

        def load(i: int) -> dict[str, Tensor]:
            return self.base.load(i, None if seed is None else random.Random(seed))

        sample = load(now)
        sample.update({PREFIX + k: v for k, v in load(before).items()})
        return sample


def clip_of(path: Path) -> tuple[Path, str]:
    """Frames of one clip share a folder and a name up to their frame number: `street_0001.png`,
    `street_0002.png` ... (or just `0001.png`, `0002.png` ...)."""
    return path.parent, re.sub(r"\d+$", "", path.stem)


def previous_frame(paths: Sequence[Path], index: int) -> int | None:
    """The index of the frame before `paths[index]` in a name-sorted list, if it is of the same clip."""
    if index <= 0 or clip_of(paths[index - 1]) != clip_of(paths[index]):
        return None
    return index - 1


def previous_sample(batch: Mapping[str, Any]) -> dict[str, Any]:
    return {k[len(PREFIX) :]: v for k, v in batch.items() if k.startswith(PREFIX)}


# ---- optical flow -------------------------------------------------------------------------------------
def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Backward warp: out(x) = image(x + flow(x)), flow (B,2,H,W) in pixels (dx, dy)."""
    h, w = image.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(h, device=image.device, dtype=image.dtype),
        torch.arange(w, device=image.device, dtype=image.dtype),
        indexing="ij",
    )
    x = (xs + flow[:, 0].to(image.dtype) + 0.5) / w * 2 - 1
    y = (ys + flow[:, 1].to(image.dtype) + 0.5) / h * 2 - 1
    grid = torch.stack([x, y], -1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def raft_weights_path() -> Path:
    from torchvision.models.optical_flow import Raft_Small_Weights

    name = Raft_Small_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / name


class RaftFlow(nn.Module):
    """torchvision's RAFT (small), frozen: the flow that moves the previous frame onto the current."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, current: Tensor, previous: Tensor) -> Tensor:
        """Flow from `current` to `previous` (B,3,H,W in [-1, 1]): where each current pixel was."""
        h, w = current.shape[-2:]
        # RAFT's correlation pyramid needs sides of at least 128 and multiples of 8
        scale = max(1.0, RAFT_MIN_SIDE / min(h, w))
        size = (math.ceil(h * scale / 8) * 8, math.ceil(w * scale / 8) * 8)

        def fit(image: Tensor) -> Tensor:
            image = image.float().expand(-1, 3, -1, -1) if image.shape[1] == 1 else image.float()
            return F.interpolate(image, size=size, mode="bilinear", align_corners=False)

        flow = self.model(fit(current), fit(previous), num_flow_updates=6)[-1]
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
        return flow * torch.tensor([w / size[1], h / size[0]], device=flow.device).view(1, 2, 1, 1)


def load_raft(model: nn.Module | None = None) -> RaftFlow:
    """RAFT with the weights torchvision caches in the torch hub folder; never downloads."""
    from torchvision.models.optical_flow import raft_small

    if model is None:
        path = raft_weights_path()
        if not path.exists():
            raise ConfigError(
                f"temporal.flow=raft needs RAFT's weights at {path} (on a machine with internet: "
                "python -c 'import torchvision; torchvision.models.optical_flow.raft_small(weights=\"DEFAULT\")'),"
                " or use temporal.flow=none"
            )
        model = raft_small()
        from i2i.nets.foreign import check_safe_torch

        check_safe_torch()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return RaftFlow(model)


class Previous:
    """The previous output frame as the generator should see it: as it was, or moved by flow from
    the previous input frame to the current one (flow needs an image input: `batch["input"]`)."""

    def __init__(self, flow: str, device: torch.device) -> None:
        if flow not in ("none", "raft"):
            raise ConfigError(f"temporal.flow: must be none or raft, not {flow!r}")
        self.raft = load_raft().to(device) if flow == "raft" else None

    def __call__(self, output: Tensor, current_input: Tensor | None, previous_input: Tensor | None) -> Tensor:
        if self.raft is None or current_input is None or previous_input is None:
            return output
        flow = self.raft(current_input, previous_input)
        if flow.shape[-2:] != output.shape[-2:]:  # super-resolution: flow of the small input, scaled
            scale = output.shape[-1] / flow.shape[-1]
            flow = F.interpolate(flow, size=output.shape[-2:], mode="bilinear", align_corners=False) * scale
        return warp(output, flow)
