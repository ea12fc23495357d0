"""Calling a pipeline from Python: `pipe(image)`, `pipe(prompt="...")`, `pipe(labels=m, num_samples=4)`.

`i2i-run` takes paths; a notebook has PIL images, numpy arrays, paths and strings. `call` maps
keywords to the modality's `InputSpec`s by name (a positional value goes to the first input),
turns each in-memory value into what the core's file readers would have made of a file, and then
takes the same road as `i2i.pipeline.run_files`: typed values parsed, the modality's `adapt`, the
reader's `samples` and `prepare` (so every check of an input is the one `i2i-run` makes), the same
batches and seeds. Images come back as a list of PIL images, `num_samples` per sample in order; a
video input (a path to a video file) gives an iterator of PIL frames, generated a chunk at a time
as it is consumed, so a long video never sits in memory.

Values an input accepts:
- image / label inputs: a path, a PIL image, a numpy array (H,W) or (H,W,C) — uint8, or floats in
  [0, 1] for images; integer class ids for label maps — or a (C,H,W) tensor as the readers make it;
- other file inputs (keypoints, landmarks, a file): a path; a PIL image or array is written to a
  temporary PNG and a dict or list to a temporary JSON file for the reader, removed after the call;
- text inputs: a string (or a list for a repeatable input), numbers for typed inputs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from i2i.errors import I2IError, InputError
from i2i.inputs import FILES, parse_values
from i2i.keys import VIDEO_FRAME
from i2i.modality import InputSpec, resolve_object

if TYPE_CHECKING:
    from i2i.pipeline import Pipeline

MAX_NUM_SAMPLES = 256  # as i2i-run's --num-samples
SPATIAL = ("image", "labels")


def _array_image(value: np.ndarray, kind: str, name: str) -> Image.Image:
    """A numpy array -> a PIL image as a file holding it would decode (ids kept for label maps)."""
    array = np.asarray(value)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InputError(
            name, f"expected an (H,W) or (H,W,C) array with 1, 3 or 4 channels, got {array.shape}"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if kind == "labels" and array.ndim == 2:
        if array.dtype.kind not in "biu":
            raise InputError(name, f"a label map array holds integer class ids, not {array.dtype}")
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise InputError(name, "label map ids must be from 0 to 65535")
        return Image.fromarray(array.astype(np.int32), mode="I")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise InputError(name, "image array has NaN or infinite values")
        array = np.clip(np.round(array * 255.0), 0, 255)
    elif array.dtype.kind not in "biu":
        raise InputError(name, f"cannot read a {array.dtype} array as an image")
    elif array.size and (array.min() < 0 or array.max() > 255):
        raise InputError(name, "an integer image array must hold 0-255 values (uint8)")
    return Image.fromarray(np.ascontiguousarray(array.astype(np.uint8)))


def _pil(value: Any, kind: str, name: str) -> Image.Image | None:
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray):
        return _array_image(value, kind, name)
    return None


def _decode(spec: InputSpec, value: Any) -> tuple[torch.Tensor, Any]:
    """One image or label value -> (the tensor `i2i.pipeline.read_input` makes of a file, the
    file it came from or None)."""
    from i2i.data.images import check_size, image_to_tensor, label_to_tensor, read_image
    from i2i.pipeline import read_input

    if isinstance(value, (str, Path)):
        path = Path(value)
        if path.is_dir():
            raise InputError(
                path, "is a folder: pipe() takes one image (use i2i-run or run_files for folders)"
            )
        return read_input(spec.kind, path), path
    if isinstance(value, torch.Tensor):
        if value.dim() != 3:
            raise InputError(spec.name, f"expected a (C,H,W) tensor, got shape {tuple(value.shape)}")
        return value.detach().cpu(), None
    img = _pil(value, spec.kind, spec.name)
    if img is None:
        raise InputError(
            spec.name, f"expected a path, a PIL image or a numpy array, not {type(value).__name__}"
        )
    check_size(spec.name, *img.size)
    if spec.kind == "labels":
        return label_to_tensor(img), None
    if img.mode not in ("RGB",):  # as read_image(path) makes every file RGB
        with tempfile.TemporaryDirectory(prefix="i2i-call-") as tmp:  # its own conversion rules
            img.save(Path(tmp) / "image.png")
            img = read_image(Path(tmp) / "image.png")
    return image_to_tensor(img), None


def _as_file(spec: InputSpec, value: Any, tmp: Path) -> Any:
    """A non-image file input: a path stays one; an image or a JSON-able value becomes a file."""
    if isinstance(value, (str, Path)):
        return str(value)
    img = _pil(value, "image", spec.name)
    if img is not None:
        path = tmp / f"{spec.name}.png"
        img.save(path)
        return str(path)
    if isinstance(value, (dict, list)):
        path = tmp / f"{spec.name}.json"
        path.write_text(json.dumps(value), encoding="utf-8")
        return str(path)
    raise InputError(spec.name, f"expected a path (or an image, or JSON data), not {type(value).__name__}")


def _gather(pipe: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    specs = list(pipe.modality.inputs)
    names = [s.name for s in specs]
    if len(args) > 1:
        raise I2IError(
            f"pipe() takes one positional input (its {names[0]!r}); name the others: {', '.join(names)}"
        )
    raw = dict(kwargs)
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise I2IError(
            f"plugin {pipe.modality.name} has no input {unknown[0]!r} (its inputs: {', '.join(names)})"
        )
    if args:
        if names[0] in raw:
            raise I2IError(f"{names[0]!r} given twice (positionally and by name)")
        raw[names[0]] = args[0]
    raw = {k: v for k, v in raw.items() if v is not None}
    for spec in specs:  # a repeatable input takes one value or several
        if spec.multiple and spec.name in raw and not isinstance(raw[spec.name], (list, tuple)):
            raw[spec.name] = [raw[spec.name]]
    return raw


def _video_spec(pipe: Any, raw: Mapping[str, Any]) -> InputSpec | None:
    from i2i.data.images import is_video

    found = [
        s
        for s in pipe.modality.inputs
        if s.video and not s.multiple and isinstance(raw.get(s.name), (str, Path)) and is_video(raw[s.name])
    ]
    if len(found) > 1:
        raise I2IError(f"only one input may be a video ({found[0].name} and {found[1].name} are)")
    return found[0] if found else None


def call(
    pipe: Pipeline,
    *args: Any,
    num_samples: int = 1,
    seed: int | None = None,
    truncation: float | None = None,
    batch_size: int = 4,
    tiling: Any = None,
    **inputs: Any,
) -> list[Image.Image] | Iterator[Image.Image]:
    """`Pipeline.__call__`: inputs by name (or the first one positionally) -> PIL images.

    Returns `num_samples` images per sample (a text modality makes one sample per prompt), in
    order; with a video input, an iterator of its output frames. `seed`, `truncation`,
    `batch_size` and `tiling` mean what `run_files` (`i2i-run`) gives them, and the same seed gives
    the same images as `i2i-run --seed`. Bad input raises `i2i.errors.InputError` naming it.
    """
    if not 1 <= int(num_samples) <= MAX_NUM_SAMPLES or not 1 <= int(batch_size) <= 1024:
        raise I2IError(f"num_samples must be from 1 to {MAX_NUM_SAMPLES} and batch_size from 1 to 1024")
    raw = _gather(pipe, args, inputs)
    stack = ExitStack()
    try:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="i2i-call-")))
        video = _video_spec(pipe, raw)
        static: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for spec in pipe.modality.inputs:
            if spec.name not in raw or spec is video:
                continue
            value = raw[spec.name]
            if spec.kind in SPATIAL:
                decoded = [_decode(spec, v) for v in (value if spec.multiple else [value])]
                tensors = [t for t, _ in decoded]
                static[spec.name] = tensors if spec.multiple else tensors[0]
                paths = [p if p is not None else Path(f"<{spec.name}>") for _, p in decoded]
                files[spec.name] = paths if spec.multiple else paths[0]
            elif spec.kind == "text":
                static[spec.name] = value
            else:
                static[spec.name] = (
                    [_as_file(spec, v, tmp) for v in value] if spec.multiple else _as_file(spec, value, tmp)
                )
        static = parse_values(pipe.modality.inputs, static)
        present = set(static) | ({video.name} if video else set())
        missing = [s.name for s in pipe.modality.inputs if s.required and s.name not in present]
        if missing:
            raise I2IError(f"plugin {pipe.modality.name} needs {', '.join(missing)}= (pipe(...) inputs)")
        if pipe.modality.adapt:
            resolve_object(pipe.modality.adapt)(pipe, static)
        options = {} if tiling is None else {"tiling": tiling}
        if video is not None:
            if num_samples != 1:
                raise I2IError("num_samples must be 1 for a video input")
            frames = _frames(
                pipe,
                static,
                files,
                video,
                Path(raw[video.name]),
                seed,
                truncation,
                batch_size,
                options,
                stack,
            )
            stack = ExitStack()  # the iterator owns the temporary files now
            return frames
        return _images(pipe, static, files, num_samples, seed, truncation, batch_size, options)
    finally:
        stack.close()


def _images(
    pipe: Any,
    static: Mapping[str, Any],
    files: Mapping[str, Any],
    num_samples: int,
    seed: int | None,
    truncation: float | None,
    batch_size: int,
    options: Mapping[str, Any],
) -> list[Image.Image]:
    """The single-output branch of `run_files`, returning the images instead of a grid file."""
    from i2i.data.images import tensor_to_image
    from i2i.pipeline import _collate, _prepare

    state = pipe.new_state()
    samples = [_prepare(pipe, {**s, FILES: files}, state) for s in pipe.samples(static)]
    out: list[Image.Image] = []
    for start in range(0, len(samples), batch_size):
        chunk_seed = None if seed is None else seed + start  # as run_files: batches draw different noise
        batch = _collate(samples[start : start + batch_size])
        images = pipe.generate(batch, num_samples, chunk_seed, truncation, max_batch=batch_size, **options)
        out += [tensor_to_image(image) for image in images]
    return out


def _frames(
    pipe: Any,
    static: Mapping[str, Any],
    files: Mapping[str, Any],
    spec: InputSpec,
    source: Path,
    seed: int | None,
    truncation: float | None,
    batch_size: int,
    options: Mapping[str, Any],
    stack: ExitStack,
) -> Iterator[Image.Image]:
    """The video branch of `run_files`, yielding frames; the video is probed before returning."""
    from i2i.data.images import tensor_to_image
    from i2i.data.video import iter_video_frames, probe_video
    from i2i.pipeline import _collate, _prepare, frame_input

    probe_video(source)

    def walk() -> Iterator[Image.Image]:
        with stack:
            stream = pipe.new_state()
            temporal: dict[str, Any] = {}
            frame_files = {**files, spec.name: source}
            for chunk in iter_video_frames(source, chunk_size=batch_size):
                samples = [
                    _prepare(
                        pipe,
                        {
                            **static,
                            spec.name: frame_input(spec.kind, f),
                            VIDEO_FRAME: True,
                            FILES: frame_files,
                        },
                        stream,
                    )
                    for f in chunk
                ]
                if pipe.temporal:
                    images = pipe.generate_frames(samples, temporal, seed, truncation, **options)
                else:
                    images = pipe.generate(_collate(samples), 1, seed, truncation, **options)
                for image in images:
                    yield tensor_to_image(image)

    return walk()
