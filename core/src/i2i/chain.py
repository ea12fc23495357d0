"""Chains of models: one run through several stages (colorize, then upscale), frames streaming
through all of them.

`i2i-run --plugin P --model colorize --then P:sr-x4 --input old.mp4 --out new.mp4`
builds a `Chain`: the first stage is any pipeline (its modality and inputs are the chain's, so
`run_files` walks images, folders and videos exactly as for one model), and each later stage is a
model that takes one image, the previous stage's output. A chain behaves like a `Pipeline` where
`run_files` looks (modality, reader, new_state, prepare, generate, generate_frames), so `run_files`
knows nothing of chains.

Between two stages an output in [-1, 1] is rounded to 8-bit levels, as writing it to a PNG would,
and handed to the next stage's own reader (`samples` / `prepare`), as if read from that file: a
chain gives what running the stages one after the other on files gives, without the files.

Video: every chunk of frames goes through all stages before the next is decoded, so memory holds
one chunk per stage whatever the length. Each stage keeps its own stream state (its reader's and,
for a temporal model, the previous output frame it sees), so stage 2's previous frame is stage 2's
own output, never stage 1's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from i2i.errors import I2IError
from i2i.inputs import FILES, InputReader, parse_values
from i2i.keys import VIDEO_FRAME
from i2i.modality import InputSpec, Modality
from i2i.pipeline import Pipeline, load_pipeline

STAGES = "chain_stages"  # key of the later stages' stream states in a video's state dict


def image_input(modality: Modality) -> InputSpec | None:
    """The one image input a later stage is fed through, or None when the modality has none, has
    several, or needs another input the chain cannot give (one without a default)."""
    images = [s for s in modality.inputs if s.kind == "image" and not s.multiple]
    if len(images) != 1:
        return None
    others = [s for s in modality.inputs if s is not images[0] and s.required and s.default is None]
    return None if others else images[0]


def quantize(images: Tensor) -> Tensor:
    """Images in [-1, 1] at the 8-bit levels an image file holds (`tensor_to_image` rounding)."""
    return images.clamp(-1, 1).add(1).mul(127.5).round().div(127.5).sub(1)


@dataclass
class _Stage:
    """A later stage: its pipeline and the input its images go to."""

    pipe: Pipeline
    spec: InputSpec
    label: str


@dataclass
class StreamStates:
    """The stream state of each later stage for one input stream (a video): the reader's, and
    the temporal one (previous output frame) of a temporal model."""

    readers: list[Any] = field(default_factory=list)
    temporal: list[dict[str, Any]] = field(default_factory=list)


class Chain:
    """Several models run one after the other on every output; see the module docstring.

    `first` is any pipeline; `rest` are pipelines with one image input each (checked here, so a
    stage that cannot follow another is one line before anything runs). `labels` name the later
    stages in errors (the `--then` text)."""

    def __init__(self, first: Pipeline, rest: Sequence[Pipeline], labels: Sequence[str] = ()) -> None:
        if not rest:
            raise ValueError("a chain needs at least one stage after the first")
        self.first = first
        self.stages: list[_Stage] = []
        for i, pipe in enumerate(rest):
            label = labels[i] if i < len(labels) else pipe.source
            spec = image_input(pipe.modality)
            if spec is None:
                needs = ", ".join(s.option for s in pipe.modality.inputs if s.required) or "no image"
                raise I2IError(
                    f"--then {label}: plugin {pipe.modality.name} takes {needs}, not one image, "
                    "so it cannot follow another stage"
                )
            self.stages.append(_Stage(pipe, spec, label))

    # ---- what run_files reads: the first stage's --------------------------------------------
    @property
    def modality(self) -> Modality:
        return self.first.modality

    @property
    def config(self) -> Any:
        return self.first.config

    @property
    def conditioner(self) -> Any:
        return self.first.conditioner

    @property
    def generator(self) -> Any:
        return self.first.generator

    @property
    def reader(self) -> InputReader:
        return self.first.reader

    @property
    def device(self) -> torch.device:
        return self.first.device

    @property
    def source(self) -> str:
        return " -> ".join([self.first.source, *(s.pipe.source for s in self.stages)])

    @property
    def pipelines(self) -> list[Pipeline]:
        """Every stage's pipeline, first to last."""
        return [self.first, *(s.pipe for s in self.stages)]

    @property
    def temporal(self) -> bool:
        """Always true: frames of a video go through `generate_frames`, which keeps every stage's
        stream state across chunks (and still batches the stages that are not temporal)."""
        return True

    def new_state(self) -> Any:
        return self.first.new_state()

    def samples(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.first.samples(inputs)

    def prepare(self, inputs: Mapping[str, Any], state: Any = None) -> dict[str, Any]:
        return self.first.prepare(inputs, state)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Notebook use, as `Pipeline.__call__`: the first stage's inputs -> the last stage's
        PIL images (`i2i.notebook.call`)."""
        from i2i.notebook import call

        return call(self, *args, **kwargs)

    # ---- generating --------------------------------------------------------------------------
    def _streams(self) -> StreamStates:
        return StreamStates(
            readers=[s.pipe.new_state() for s in self.stages], temporal=[{} for _ in self.stages]
        )

    @torch.no_grad()
    def generate(
        self,
        batch: Mapping[str, Any],
        num_samples: int = 1,
        seed: int | None = None,
        truncation: float | None = None,
        **options: Any,
    ) -> Tensor:
        """The first stage on `batch`, then every later stage on its output; each output is one
        stream of its own (images and folders: no state crosses from one image to the next)."""
        images = self.first.generate(batch, num_samples, seed, truncation, **options)
        streams = self._streams()
        for i, stage in enumerate(self.stages):
            images = self._stage(stage, images, streams.readers[i], None, seed, truncation, options)
        return images

    def generate_frames(
        self,
        samples: Sequence[Mapping[str, Any]],
        state: dict[str, Any],
        seed: int | None = None,
        truncation: float | None = None,
        **options: Any,
    ) -> Tensor:
        """Frames of one video in order through every stage; `state` (one per video) holds each
        stage's stream state across chunks."""
        from i2i.pipeline import _collate

        first = state.setdefault("first", {})
        if self.first.temporal:
            images = self.first.generate_frames(samples, first, seed, truncation, **options)
        else:
            images = self.first.generate(_collate(samples), 1, seed, truncation, **options)
        if STAGES not in state:
            state[STAGES] = self._streams()
        streams = state[STAGES]
        for i, stage in enumerate(self.stages):
            images = self._stage(
                stage, images, streams.readers[i], streams.temporal[i], seed, truncation, options
            )
        return images

    def _stage(
        self,
        stage: _Stage,
        images: Tensor,
        reader_state: Any,
        temporal: dict[str, Any] | None,
        seed: int | None,
        truncation: float | None,
        options: Mapping[str, Any],
    ) -> Tensor:
        """One later stage on the previous stage's images (B,3,H,W): through its own reader as
        8-bit images, then its generator; `temporal` given = frames of a video, in order."""
        from i2i.pipeline import _collate

        pipe = stage.pipe
        video = {VIDEO_FRAME: True} if temporal is not None else {}
        samples = []
        for image in quantize(images):
            raw = parse_values(pipe.modality.inputs, {stage.spec.name: image})
            for sample in pipe.samples(raw):
                samples.append(pipe.prepare({**sample, **video, FILES: {}}, reader_state))
        if temporal is not None and pipe.temporal:
            return pipe.generate_frames(samples, temporal, seed, truncation, **options)
        return pipe.generate(_collate(samples), 1, seed, truncation, **options)


def load_chain(
    source: Any,
    then: Sequence[str],
    *,
    plugin: str | None = None,
    device: str = "auto",
    model: str | None = None,
) -> Chain:
    """`source` (what `load_pipeline` takes) followed by each spec of `then`: a model file, a run
    directory, or `PLUGIN:MODEL` (a plugin's shipped model; a bare `PLUGIN` is its default)."""
    if not then:
        raise I2IError("a chain needs at least one --then stage")
    first = load_pipeline(source, plugin=plugin, device=device, model=model)
    rest = []
    for spec in then:
        try:
            rest.append(load_pipeline(spec, device=device))
        except I2IError as exc:
            raise I2IError(f"--then {spec}: {exc}") from None
    return Chain(first, rest, labels=list(then))
