"""Inference: a checkpoint (or a plugin's shipped default) -> conditioner + generator -> images or video.

`load_pipeline` accepts an i2i model file, a run directory, a plugin name (its shipped default
model) or, with `plugin=`, a foreign checkpoint that one of the plugin's importers understands.
`Pipeline.generate` works on tensors; `run_files` is what `i2i-run` calls on paths.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from i2i.config import Config, defaults_for, from_json, merge, resolve_references, with_new_defaults
from i2i.engine import checkpoint as ckpt
from i2i.engine.build import build_conditioner, build_generator
from i2i.engine.device import select_device, select_precision
from i2i.errors import I2IError, InputError
from i2i.interfaces import Conditioner, Generator
from i2i.modality import InputSpec, Modality, resolve_object, resolve_resource
from i2i.plugins import get_manager


@dataclass
class Pipeline:
    modality: Modality
    config: Config
    conditioner: Conditioner
    generator: Generator
    device: torch.device
    source: str

    @property
    def size_multiple(self) -> int:
        return int(getattr(self.generator, "size_multiple", 1))

    @property
    def temporal(self) -> bool:
        """Whether the generator takes the previous output frame (frames then run in order)."""
        from i2i.temporal import TemporalGenerator

        return isinstance(self.generator, TemporalGenerator)

    def generate_frames(
        self,
        samples: Sequence[Mapping[str, Any]],
        state: dict[str, Any],
        seed: int | None = None,
        truncation: float | None = None,
    ) -> Tensor:
        """Frames of a video in order, each seeing the previous output (temporal models); `state`
        carries the last frame across chunks, so a long video streams in constant memory."""
        from i2i.temporal import PREVIOUS, Previous

        if "move" not in state:
            state["move"] = Previous(str(self.config.temporal.flow), self.device)
        outs = []
        for sample in samples:
            batch = _collate([sample])
            if state.get("previous") is not None:
                batch[PREVIOUS] = state["move"](state["previous"], batch.get("input"), state.get("input"))
            out = self.generate(batch, 1, seed, truncation)
            state["previous"], state["input"] = out, batch.get("input")
            outs.append(out)
        return torch.cat(outs)

    @torch.no_grad()
    def generate(
        self,
        batch: Mapping[str, Any],
        num_samples: int = 1,
        seed: int | None = None,
        truncation: float | None = None,
    ) -> Tensor:
        """Batch of prepared inputs -> (B*num_samples, 3, H, W) images in [-1, 1], on the CPU.

        Spatial inputs of any size are padded to the generator's size multiple and the output
        cropped back (scaled by the generator's output/input ratio), so users need not resize.
        `truncation` bounds the noise (see `draw_noise`).
        """
        from i2i.temporal import with_previous

        batch = {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in batch.items()}
        cond = with_previous(self.conditioner(batch), batch)
        pad_hw = None
        if cond.maps is not None and self.size_multiple > 1:
            h, w = cond.maps.shape[-2:]
            m = self.size_multiple
            ph, pw = (-h) % m, (-w) % m
            if ph or pw:
                mode = "reflect" if ph < h and pw < w else "replicate"
                cond = cond.map(lambda t: F.pad(t, (0, pw, 0, ph), mode=mode) if t.dim() == 4 else t)
                pad_hw = (h, w, h + ph)
        if num_samples > 1:
            cond = cond.repeat_interleave(num_samples)
        dim = int(getattr(self.generator, "noise_dim", 0))
        z = None
        if dim:
            z = draw_noise(cond.batch_size, dim, seed, truncation).to(self.device)
        elif seed is not None:
            torch.manual_seed(seed)
        with select_precision("fp32", self.device).autocast(self.device):
            out = self.generator(cond, z).float()
        if pad_hw is not None:
            h, w, padded_h = pad_hw
            scale = out.shape[-2] / padded_h
            out = out[..., : round(h * scale), : round(w * scale)]
        return out.clamp(-1, 1).cpu()

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return self.conditioner.prepare(inputs)


def draw_noise(n: int, dim: int, seed: int | None = None, truncation: float | None = None) -> Tensor:
    """(n, dim) standard normal noise, optionally truncated to [-truncation, truncation].

    The truncation trick (BigGAN): values outside the bound are redrawn, not clipped, so the noise
    stays a (truncated) normal; smaller bounds trade variety for typical, cleaner samples. Drawn on
    the CPU from its own generator so a seed gives the same images on every device.
    """
    if truncation is not None and truncation <= 0:
        raise I2IError(f"--truncation must be > 0, not {truncation}")
    g = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
    z = torch.randn(n, dim, generator=g)
    if truncation is not None:
        outside = z.abs() > truncation
        while outside.any():
            z[outside] = torch.randn(int(outside.sum()), generator=g)
            outside = z.abs() > truncation
    return z


def _from_model_file(path: Path, device: torch.device) -> Pipeline:
    meta, parts = ckpt.load_model(path)
    config = from_json(meta["config"])
    modality = get_manager().get_modality(meta.get("plugin") or config["plugin"])
    config = Config(with_new_defaults(modality, config.to_dict()))
    conditioner = build_conditioner(modality, config)
    generator = build_generator(config)
    try:
        conditioner.load_state_dict(parts.get("conditioner", {}))
        generator.load_state_dict(parts["generator"])
    except (KeyError, RuntimeError) as exc:
        raise InputError(
            path, f"weights do not match the config stored in it ({str(exc).splitlines()[0][:100]})"
        ) from None
    return _finish(modality, config, conditioner, generator, device, str(path))


def _from_foreign(path: Path, modality: Modality, device: torch.device) -> Pipeline:
    problems = []
    for target in modality.importers:
        importer = resolve_object(target)
        try:
            override, generator = importer(path)
        except InputError as exc:
            problems.append(exc.problem)
            continue
        config = Config(resolve_references(merge(defaults_for(modality), override, f"importer {target}")))
        conditioner = build_conditioner(modality, config)
        return _finish(modality, config, conditioner, generator, device, str(path))
    detail = "; ".join(problems) or f"plugin {modality.name} has no checkpoint importers"
    raise InputError(path, f"not an i2i model file and no importer accepts it ({detail})")


def _finish(
    modality: Modality,
    config: Config,
    conditioner: Conditioner,
    generator: Generator,
    device: torch.device,
    src: str,
) -> Pipeline:
    conditioner.to(device).eval()
    generator.to(device).eval()
    return Pipeline(modality, config, conditioner, generator, device, src)


def load_pipeline(source: str | Path, *, plugin: str | None = None, device: str = "auto") -> Pipeline:
    """Build a ready-to-run pipeline from a model file, run directory, plugin name or foreign file."""
    dev = select_device(device)
    path = Path(source)
    manager = get_manager()
    if not path.exists() and str(source) in manager.modalities():
        modality = manager.get_modality(str(source))
        if not modality.default_checkpoint:
            raise I2IError(f"plugin {modality.name} ships no default model: pass --checkpoint")
        return _from_model_file(resolve_resource(modality.default_checkpoint), dev)
    if path.is_dir() and (path / "model.safetensors").exists():
        path = path / "model.safetensors"
    if not path.is_file():
        raise InputError(path, "no such checkpoint file")
    if path.suffix == ".safetensors":
        meta = ckpt.read_metadata(path)
        if meta.get("format") == ckpt.MODEL_FORMAT:
            found = meta.get("plugin")
            if plugin and found and plugin != found:
                raise InputError(path, f"this checkpoint is for plugin {found!r}, not {plugin!r}")
            return _from_model_file(path, dev)
    if plugin is None:
        raise InputError(path, "not an i2i model file; to import a foreign checkpoint, also give --plugin")
    return _from_foreign(path, manager.get_modality(plugin), dev)


# ---- files in, files out -------------------------------------------------------------------------
IMAGE_OUT = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


SPATIAL_KINDS = ("image", "labels")  # inputs read from image files, folders of them, or videos


def read_input(kind: str, path: str | Path) -> Tensor:
    """An image input -> (C,H,W) float in [-1, 1]; a label map -> its raw ids or colours (int64)."""
    from i2i.data.images import image_to_tensor, read_image, read_labels

    return read_labels(path) if kind == "labels" else image_to_tensor(read_image(path))


VIDEO_FRAME = "video_frame"  # set in prepare()'s inputs for frames decoded from a (lossy) video


def frame_input(kind: str, frame: Tensor) -> Tensor:
    """A decoded video frame (3,H,W in [-1, 1]) as `read_input` would give it for `kind`; inputs of
    other kinds (a pose or landmark video) get the frame itself, to extract from."""
    return frame.add(1).mul(127.5).round().long() if kind == "labels" else frame


def _prepare(
    pipe: Pipeline, inputs: Mapping[str, Any], spec: InputSpec | None, source: str | Path | None
) -> dict[str, Any]:
    """`Pipeline.prepare`; a problem it reports against a file input's option (`--labels: class id
    40 ...`) is reported against the file itself, which the conditioner never sees."""
    try:
        return pipe.prepare(inputs)
    except InputError as exc:
        if spec is not None and source is not None and exc.path == spec.option:
            raise InputError(source, exc.problem) from None
        raise


def _file_input(modality: Modality, raw: Mapping[str, Any]) -> tuple[InputSpec | None, str | Path | None]:
    """The first spatial input given as one file (a repeatable one given once counts): the file a
    single-mode problem reported against its option is about."""
    for spec in modality.inputs:
        value = raw.get(spec.name)
        if spec.kind not in SPATIAL_KINDS or value is None:
            continue
        if not spec.multiple:
            return spec, value
        if len(value) == 1:
            return spec, value[0]
    return None, None


def _primary(modality: Modality, raw: Mapping[str, Any]) -> tuple[InputSpec | None, str]:
    """The image input that decides the mode: a directory -> batch, a video -> video, else single."""
    from i2i.data.images import is_video

    chosen: tuple[InputSpec | None, str] = (None, "single")
    for spec in modality.inputs:
        value = raw.get(spec.name)
        if value is None or spec.multiple or not (spec.kind in SPATIAL_KINDS or spec.video):
            continue
        p = Path(value)
        spatial = spec.kind in SPATIAL_KINDS
        mode = "dir" if spatial and p.is_dir() else "video" if spec.video and is_video(p) else "single"
        if mode != "single":
            if chosen[1] != "single":
                raise I2IError(f"only one of the inputs may be a directory or a video ({spec.option} is too)")
            chosen = (spec, mode)
    return chosen


def _read_static(modality: Modality, raw: Mapping[str, Any], skip: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in modality.inputs:
        value = raw.get(spec.name)
        if spec.name == skip or value is None:
            continue
        if spec.kind in SPATIAL_KINDS:
            values = value if spec.multiple else [value]
            tensors = [read_input(spec.kind, v) for v in values]
            out[spec.name] = tensors if spec.multiple else tensors[0]
        else:
            out[spec.name] = value
    return out


def _collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return torch.utils.data.default_collate(list(items))


def _check_out(out: Path, suffixes: Iterable[str], what: str) -> None:
    if out.suffix.lower() not in set(suffixes):
        raise InputError(out, f"--out for {what} must end in one of {', '.join(sorted(set(suffixes)))}")


def run_files(
    pipe: Pipeline,
    raw: Mapping[str, Any],
    out: str | Path,
    *,
    num_samples: int = 1,
    seed: int | None = None,
    batch_size: int = 4,
    truncation: float | None = None,
) -> list[Path]:
    """Run the model on user files. Validates every input before writing; writes atomically."""
    from i2i.data.images import VIDEO_EXTENSIONS, list_images, save_image

    out = Path(out)
    spec, mode = _primary(pipe.modality, raw)
    static = _read_static(pipe.modality, raw, spec.name if spec else None)
    if pipe.modality.adapt:
        resolve_object(pipe.modality.adapt)(pipe, static)
    if mode == "single":
        _check_out(out, IMAGE_OUT, "an image")
        file_spec, source = _file_input(pipe.modality, raw)
        samples = [_prepare(pipe, s, file_spec, source) for s in pipe.conditioner.samples(static)]
        rows = []
        for start in range(0, len(samples), batch_size):
            chunk_seed = None if seed is None else seed + start  # batches draw different noise
            batch = _collate(samples[start : start + batch_size])
            images = pipe.generate(batch, num_samples, chunk_seed, truncation)
            rows += [torch.cat(list(row), dim=2) for row in images.split(num_samples)]
        save_image(torch.cat(rows, dim=1), out)  # one row per sample, one column per draw
        return [out]
    assert spec is not None
    source = Path(raw[spec.name])
    if mode == "video":
        from i2i.data.video import VideoWriter, iter_video_frames, probe_video

        _check_out(out, VIDEO_EXTENSIONS, "a video input")
        if num_samples != 1:
            raise I2IError("--num-samples must be 1 for video input")
        info = probe_video(source)
        state: dict[str, Any] = {}
        with VideoWriter(out, fps=info.fps) as writer:
            for chunk in iter_video_frames(source, chunk_size=batch_size):
                samples = [
                    _prepare(
                        pipe,
                        {**static, spec.name: frame_input(spec.kind, frame), VIDEO_FRAME: True},
                        spec,
                        source,
                    )
                    for frame in chunk
                ]
                if pipe.temporal:
                    writer.write(pipe.generate_frames(samples, state, seed, truncation))
                else:
                    writer.write(pipe.generate(_collate(samples), 1, seed, truncation))
        return [out]
    files = list_images(source)
    if not files:
        raise InputError(source, "no images in this directory")
    if out.suffix.lower() in IMAGE_OUT:
        raise InputError(out, "input is a directory, so --out must be a directory")
    loaded = [(f, read_input(spec.kind, f)) for f in files]  # validate all before writing any
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    written: list[Path] = []
    try:
        for start in range(0, len(loaded), batch_size):
            chunk = loaded[start : start + batch_size]
            same = len({t.shape for _, t in chunk}) == 1
            groups = [chunk] if same else [[item] for item in chunk]
            for group in groups:
                samples = [_prepare(pipe, {**static, spec.name: t}, spec, f) for f, t in group]
                images = pipe.generate(_collate(samples), num_samples, seed, truncation)
                for j, (f, _) in enumerate(group):
                    for k in range(num_samples):
                        name = f"{f.stem}.png" if num_samples == 1 else f"{f.stem}_{k}.png"
                        save_image(images[j * num_samples + k], staging / name)
                        written.append(out / name)
        out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            item.replace(out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written
