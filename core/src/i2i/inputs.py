"""Inference inputs apart from the networks: reading and checking what `i2i-run` was given, and the
state kept across the frames of one input stream (a video).

A conditioner is an nn.Module that turns a batch of tensors into a Condition; it is trained, saved
and exported. Reading raw inputs (paths, JSON, detected keypoints) and following a person or a
face from frame to frame are neither: they live in an `InputReader`, which a modality names by
import string (`Modality.reader`). The pipeline builds one reader per model and asks it for a
fresh stream state (`new_state()`) for every input stream: every video, every folder, every call
of `run_files`, so nothing of one video leaks into the next.

Flow of one `i2i-run`:

    inputs (decoded by the core)  ->  reader.samples(inputs)  ->  for each sample:
        reader.prepare(sample, state)  ->  batch entries (what a dataset yields)  ->  collate
        ->  conditioner(batch)  ->  Condition  ->  generator

A modality without a reader keeps working: `ConditionerReader` calls the conditioner's own
`samples` / `prepare` (the contract before readers), with no state.

This module imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i.errors import InputError

if TYPE_CHECKING:
    from i2i.modality import InputSpec, Modality

FILES = "files"
"""Set in `prepare()`'s inputs: input name -> the file its value was read from (a `Path`; a list of
them for a repeatable input; the video for a frame). Paired folders are matched by file name, and a
reader may use the names too (e.g. to find a side-car file). Not a batch entry: return only what a
dataset would yield."""


class InputReader:
    """Reads and checks one modality's raw inference inputs; plain Python, not an nn.Module.

    Built once per pipeline as `Reader(config)` (the model's full `i2i.config.Config`, so options
    such as a heatmap sigma come from the model that will use them). Override what you need:

    - `samples(inputs)`: split one invocation into samples (a text modality: one per prompt).
    - `prepare(inputs, state)`: one sample's decoded inputs -> the batch entries a dataset yields.
      Image inputs arrive as (C,H,W) tensors in [-1, 1] (label maps as int64), other kinds as the
      value given (a path, or a number for typed inputs); frames of a video input arrive one at a
      time with `inputs[i2i.keys.VIDEO_FRAME]` set, and `inputs[FILES]` names the source files.
      Raise `i2i.errors.InputError(option_or_path, problem)` for bad input: a problem reported
      against an image input's option is reported against its file.
    - `new_state()`: the state of one input stream (e.g. the last pose found, a reference frame,
      a tracking detector). The pipeline creates one for each video / folder / call and passes it
      to every `prepare` of that stream; keep per-stream data there, never on the reader.
    """

    def __init__(self, config: Any = None) -> None:
        self.config = config

    def new_state(self) -> Any:
        """A fresh state for one input stream (default: an empty dict)."""
        return {}

    def samples(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One invocation's inputs -> the samples to generate (default: one)."""
        return [dict(inputs)]

    def prepare(self, inputs: Mapping[str, Any], state: Any) -> dict[str, Any]:
        """One sample's decoded inputs -> batch entries (default: the inputs without FILES)."""
        return {k: v for k, v in inputs.items() if k != FILES}


class ConditionerReader(InputReader):
    """The reader of a modality that names none: its conditioner's `samples` and `prepare(inputs)`.

    Kept for plugins written before readers (and the tutorial's first step); such a plugin has no
    per-stream state. The conditioner never sees `FILES`, which it did not know about.
    """

    def __init__(self, conditioner: Any) -> None:
        super().__init__(None)
        self.conditioner = conditioner

    def samples(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [dict(s) for s in self.conditioner.samples(inputs)]

    def prepare(self, inputs: Mapping[str, Any], state: Any) -> dict[str, Any]:
        return self.conditioner.prepare({k: v for k, v in inputs.items() if k != FILES})


def to_rgb(image: Any) -> Any:
    """A decoded image input or video frame ((3,H,W) tensor in [-1, 1]) -> (H,W,3) uint8 numpy
    array: what keypoint and face detectors read."""
    return ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def make_reader(modality: Modality, config: Any, conditioner: Any) -> InputReader:
    """The modality's reader built with `config`, or the conditioner adapter when it names none."""
    from i2i.modality import resolve_object

    target = getattr(modality, "reader", None)
    if target is None:
        return ConditionerReader(conditioner)
    return resolve_object(target)(config)


def parse_values(specs: Sequence[InputSpec], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Raw inputs with the defaults of the inputs not given filled in and typed inputs parsed
    ("50" -> 50): what every reader then receives. A bad value is an `InputError` naming the option."""
    out = dict(raw)
    for spec in specs:
        value = out.get(spec.name)
        if value is None:
            if spec.default is not None:
                out[spec.name] = [spec.default] if spec.multiple else spec.default
            continue
        try:
            if spec.multiple and isinstance(value, (list, tuple)):
                out[spec.name] = [spec.parse(v) for v in value]
            else:
                out[spec.name] = spec.parse(value)
        except ValueError as exc:
            raise InputError(spec.option, str(exc)) from None
    return out


def pair_by_name(
    folders: Sequence[tuple[InputSpec, Path]], files: Sequence[Sequence[Path]]
) -> list[dict[str, Path]]:
    """Files of several input folders paired by file name without suffix (`a.jpg` with `a.png`).

    `folders[i]` is (input, its folder) and `files[i]` the image files found in it. Returns one
    {input name: file} per file of the first folder, in its order. A file without a partner in
    every other folder, or two files with one name in one folder, is a one-line `InputError` naming
    the first such file, so nothing is generated from a half-matched set. A single folder pairs
    nothing, so its files may share a name (`a.png`, `a.jpg`; their outputs get names of their
    own, see `i2i.pipeline.output_stems`).
    """
    if len(folders) == 1:
        return [{folders[0][0].name: path} for path in files[0]]
    indexes: list[dict[str, Path]] = []
    for (_, folder), found in zip(folders, files):
        index: dict[str, Path] = {}
        for path in found:
            if path.stem in index:
                raise InputError(path, f"two files named {path.stem!r} in {folder} ({index[path.stem].name})")
            index[path.stem] = path
        indexes.append(index)
    (first, first_dir), first_index = folders[0], indexes[0]
    rows = []
    for stem, path in first_index.items():
        row = {first.name: path}
        for (spec, folder), index in zip(folders[1:], indexes[1:]):
            if stem not in index:
                raise InputError(path, f"no file named {stem}.* in {folder} ({spec.option}) to pair it with")
            row[spec.name] = index[stem]
        rows.append(row)
    for index in indexes[1:]:
        extra = sorted(set(index) - set(first_index))
        if extra:
            problem = f"no file named {extra[0]}.* in {first_dir} ({first.option}) to pair it with"
            raise InputError(index[extra[0]], problem)
    return rows
