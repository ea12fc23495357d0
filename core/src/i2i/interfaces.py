"""The three trainable roles every modality fills: Conditioner, Generator, Discriminator.

A Condition is the common currency between them, so the engine never needs to know which
modality it is training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn


@dataclass
class Condition:
    """A conditioning signal in any of four shapes; a modality fills the ones it has.

    maps: (B,C,H,W) spatial (input photo, one-hot labels, pose heatmaps, landmark sketch).
    vector: (B,D) global (sentence or identity embedding).
    tokens: (B,T,D) with token_mask (B,T) true where valid (word features).
    refs: (B,3,H,W) appearance references (garment, source portrait).
    previous: (B,3,H',W') the previous output frame of a video (temporal mode, `i2i.temporal`);
    set by the engine and the pipeline, never by a conditioner.
    parts: named tensors (batch first) a modality's own networks read by name, e.g. a pose
    heatmap and a warped source image kept apart instead of packed into `maps` and sliced back
    by channel offset. Export flattens them to inputs named `parts.<name>`.
    aux: auxiliary outputs of the conditioner for loss terms (e.g. a style encoder's `mu` and
    `logvar` for a KL term). They belong to this one forward pass: every derived Condition
    (`map`, `detach`, `roll`, ...) drops them, and networks never read them.
    """

    maps: Tensor | None = None
    vector: Tensor | None = None
    tokens: Tensor | None = None
    token_mask: Tensor | None = None
    refs: Tensor | None = None
    previous: Tensor | None = None
    parts: dict[str, Tensor] = field(default_factory=dict)
    aux: dict[str, Tensor] = field(default_factory=dict)

    TENSOR_FIELDS: ClassVar[tuple[str, ...]] = ("maps", "vector", "tokens", "token_mask", "refs", "previous")

    def _tensors(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in self.TENSOR_FIELDS if getattr(self, name) is not None}

    def named_tensors(self) -> dict[str, Tensor]:
        """Every tensor a network may read, flat and by name (`maps`, ..., `parts.<name>`):
        the names export gives the model's inputs."""
        out = self._tensors()
        out.update({f"parts.{k}": v for k, v in self.parts.items()})
        return out

    @classmethod
    def from_named(cls, tensors: Mapping[str, Tensor]) -> Condition:
        """The inverse of `named_tensors` (exported graphs rebuild their Condition with it)."""
        parts = {k.partition(".")[2]: v for k, v in tensors.items() if k.startswith("parts.")}
        plain = {k: v for k, v in tensors.items() if not k.startswith("parts.")}
        return cls(**plain, parts=parts)

    @property
    def batch_size(self) -> int:
        tensors = self.named_tensors()
        if not tensors:
            raise ValueError("empty Condition")
        return next(iter(tensors.values())).shape[0]

    def map(self, fn: Any) -> Condition:
        """Apply fn to every tensor (parts included); the result carries no aux outputs."""
        return replace(
            self,
            **{k: fn(v) for k, v in self._tensors().items()},
            parts={k: fn(v) for k, v in self.parts.items()},
            aux={},
        )

    def to(self, device: torch.device | str, memory_format: torch.memory_format | None = None) -> Condition:
        def move(t: Tensor) -> Tensor:
            if memory_format is not None and t.dim() == 4:
                return t.to(device, memory_format=memory_format)
            return t.to(device)

        return self.map(move)

    def detach(self) -> Condition:
        return self.map(lambda t: t.detach())

    def repeat_interleave(self, k: int) -> Condition:
        """Each condition k times in a row: k samples per condition in one batch."""
        return self.map(lambda t: t.repeat_interleave(k, dim=0))

    def roll(self, shifts: int = 1) -> Condition:
        """Conditions shifted along the batch: wrong (image, condition) pairs for matching-aware losses."""
        return self.map(lambda t: t.roll(shifts, dims=0))


@dataclass
class DOutput:
    """One scale of a discriminator's verdict: patch logits plus intermediate features (for FM)."""

    logits: Tensor
    features: list[Tensor]


class Conditioner(nn.Module):
    """Turns a batch of raw condition tensors (from a dataset or `prepare`) into a Condition.

    Subclasses override `forward`; `prepare` converts decoded inference inputs (images as
    (3,H,W) tensors in [-1,1], strings, parsed JSON) to the same batch entries a dataset gives.
    """

    def forward(self, batch: Mapping[str, Any]) -> Condition:  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} must implement forward(batch)")

    def samples(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Split one invocation's inputs into the samples to generate, each then given to `prepare`.

        Default: one sample. A text conditioner returns one per prompt, so `--prompt a --prompt b`
        gives one row per prompt in the output grid (and `--num-samples` the columns).
        """
        return [dict(inputs)]

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Decoded inputs of one sample -> batch entries. Frames of a video input come with
        `inputs["video_frame"] = True`: they went through a lossy codec (label colours blur)."""
        return dict(inputs)

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        """An image (B,3|1,H,W in [-1,1]) of the condition for sample sheets; None if not drawable."""
        maps = cond.maps
        if maps is None or maps.shape[1] not in (1, 3):
            return None
        return maps if maps.shape[1] == 3 else maps.expand(-1, 3, -1, -1)


class Generator(nn.Module):
    """(Condition, noise) -> images in [-1, 1].

    noise_dim: length of z per sample; 0 means the generator takes no z (the engine and the
    pipeline draw z only when it is positive).
    size_multiple: spatial inputs must be multiples of this (U-Net depth, down-sampling steps);
    the pipeline pads inputs to it and crops the output back. A generator that wraps another
    must report the inner one's values (see `i2i.temporal.TemporalGenerator`).
    tileable: whether the pipeline may run the generator on overlapping tiles of a large input
    and blend them (`i2i.tiling`). None (the default) decides from the layers: a generator with
    instance or group normalisation over the input's own statistics, adaptive pooling or
    attention sees the whole image and is not tiled; any other is, when its Condition has
    spatial maps. Set False for any other global context: a vector mapped to a spatial grid of
    fixed size, keypoints found in the whole frame, a (B,C,H,W) tensor read as a whole (a style
    photo at the maps' size would otherwise be cut like them); True to allow tiling in spite of
    such layers (approximate: each tile normalises over itself).
    """

    noise_dim: int = 0
    size_multiple: int = 1
    tileable: bool | None = None

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement forward(cond, z)")


class Discriminator(nn.Module):
    """(image, Condition) -> one DOutput per scale."""

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement forward(image, cond)")


class IdentityConditioner(Conditioner):
    """Conditioner for modalities whose condition is one spatial tensor under batch['input']."""

    def __init__(self, key: str = "input") -> None:
        super().__init__()
        self.key = key

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        return Condition(maps=batch[self.key])
