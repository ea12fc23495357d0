"""Inference: a checkpoint (or a plugin's shipped default) -> conditioner + generator -> images or video.

`load_pipeline` accepts an i2i model file, a run directory, a plugin name (its shipped default
model) or, with `plugin=`, a foreign checkpoint that one of the plugin's importers understands.
`Pipeline.generate` works on tensors; `run_files` is what `i2i-run` calls on paths. Raw inputs are
read by the modality's `i2i.inputs.InputReader`, with one fresh stream state per video, folder or
call (`Pipeline.new_state`), so one video never affects the next.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from i2i import downloads
from i2i.config import Config, defaults_for, from_json, merge, resolve_references, with_new_defaults
from i2i.engine import checkpoint as ckpt
from i2i.engine.build import build_conditioner, build_generator
from i2i.engine.device import select_device, select_precision
from i2i.errors import ConfigError, I2IError, InputError
from i2i.inputs import FILES, InputReader, make_reader, pair_by_name, parse_values
from i2i.interfaces import Condition, Conditioner, Generator
from i2i.keys import INPUT, VIDEO_FRAME  # VIDEO_FRAME is also importable from here, its old home
from i2i.modality import InputSpec, Modality, resolve_object
from i2i.nets.foreign import build_for_weights
from i2i.plugins import get_manager
from i2i.tiling import TileSettings, run_tiled
from i2i.tiling import plan as tiling_plan
from i2i.tiling import reference as spatial_reference

if TYPE_CHECKING:
    from i2i.chain import Chain


@dataclass
class Pipeline:
    """A ready model: the modality's reader, conditioner and generator on one device.

    `reader` reads raw inputs (built from the modality's `reader`, or the conditioner's own
    `prepare` for older plugins); the pipeline owns the state of each input stream.
    """

    modality: Modality
    config: Config
    conditioner: Conditioner
    generator: Generator
    device: torch.device
    source: str
    reader: InputReader = field(default=None)  # type: ignore[assignment]  # made in __post_init__

    def __post_init__(self) -> None:
        if self.reader is None:
            self.reader = make_reader(self.modality, self.config, self.conditioner)

    @property
    def size_multiple(self) -> int:
        return int(self.generator.size_multiple)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Notebook use: `pipe(image)`, `pipe(prompt="...")`, `pipe(labels=m, num_samples=4,
        seed=0)` -> a list of PIL images (a video input: an iterator of frames); inputs are PIL
        images, numpy arrays or paths, checked as `i2i-run` checks files (`i2i.notebook.call`)."""
        from i2i.notebook import call

        return call(self, *args, **kwargs)

    def new_state(self) -> Any:
        """A fresh input-stream state (one per video, folder or call of `run_files`)."""
        return self.reader.new_state()

    def samples(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One invocation's decoded inputs -> the samples to generate (the reader's split)."""
        return self.reader.samples(inputs)

    def prepare(self, inputs: Mapping[str, Any], state: Any = None) -> dict[str, Any]:
        """One sample's decoded inputs -> batch entries. Frames of one video share a `state`
        (from `new_state`); without one the sample is a stream of its own."""
        return self.reader.prepare(inputs, self.new_state() if state is None else state)

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
        *,
        tiling: TileSettings | None = None,
        max_batch: int | None = None,
    ) -> Tensor:
        """Frames of a video in order, each seeing the previous output (temporal models); `state`
        carries the last frame across chunks, so a long video streams in constant memory.
        (`max_batch` is accepted as `generate` takes it; frames are made one at a time anyway.)"""
        from i2i.temporal import PREVIOUS, Previous

        if "move" not in state:
            state["move"] = Previous(str(self.config.temporal.flow), self.device)
        outs = []
        for sample in samples:
            batch = _collate([sample])
            if state.get("previous") is not None:
                batch[PREVIOUS] = state["move"](state["previous"], batch.get(INPUT), state.get("input"))
            out = self.generate(batch, 1, seed, truncation, tiling=tiling)
            state["previous"], state["input"] = out, batch.get(INPUT)
            outs.append(out)
        return torch.cat(outs)

    @torch.no_grad()
    def generate(
        self,
        batch: Mapping[str, Any],
        num_samples: int = 1,
        seed: int | None = None,
        truncation: float | None = None,
        *,
        tiling: TileSettings | None = None,
        max_batch: int | None = None,
    ) -> Tensor:
        """Batch of prepared inputs -> (B*num_samples, 3, H, W) images in [-1, 1], on the CPU.

        `max_batch` bounds how many images the generator makes at once (`--batch-size`): the B x
        num_samples conditions are run in chunks of at most that many, with the noise drawn for
        all of them first, so a seed gives the same images whatever the batch size.

        Spatial inputs of any size are padded to the generator's size multiple and the output
        cropped back (scaled by the generator's output/input ratio), so users need not resize.
        `truncation` bounds the noise (see `draw_noise`). A large input is generated as blended
        tiles in bounded memory (`i2i.tiling`): by default when it would not fit the default
        memory budget; `tiling` gives the budget or tile size, or turns tiling off.
        """
        from i2i.temporal import with_previous

        batch = {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in batch.items()}
        cond = with_previous(self.conditioner(batch), batch)
        pad_hw = None
        spatial = spatial_reference(cond)
        if spatial is not None and self.size_multiple > 1:
            h, w = spatial.shape[-2:]
            m = self.size_multiple
            ph, pw = (-h) % m, (-w) % m
            if ph or pw:
                mode = "reflect" if ph < h and pw < w else "replicate"
                cond = cond.map(lambda t: F.pad(t, (0, pw, 0, ph), mode=mode) if t.dim() == 4 else t)
                pad_hw = (h, w, h + ph)
        if num_samples > 1:
            cond = cond.repeat_interleave(num_samples)
        dim = int(self.generator.noise_dim)
        z = None
        if dim:
            z = draw_noise(cond.batch_size, dim, seed, truncation).to(self.device)
        elif seed is not None:
            torch.manual_seed(seed)
        precision = select_precision("fp32", self.device)

        def run(c: Condition, noise: Tensor | None) -> Tensor:
            with precision.autocast(self.device):
                return self.generator(c, noise).float()

        def produce(c: Condition, noise: Tensor | None) -> Tensor:
            tiles = tiling_plan(
                run,
                self.generator,
                c,
                noise,
                tiling,
                multiple=self.size_multiple,
                device=self.device,
                modality_tileable=self.modality.tileable,
            )
            out = run(c, noise) if tiles is None else run_tiled(run, c, noise, tiles)
            if pad_hw is not None:
                h, w, padded_h = pad_hw
                scale = out.shape[-2] / padded_h
                out = out[..., : round(h * scale), : round(w * scale)]
            if tiles is not None:  # blended into a tensor of its own: clamped in place, no copy
                return out.clamp_(-1, 1)
            return out.clamp(-1, 1).cpu()

        total = cond.batch_size
        if max_batch is None or total <= max_batch:
            return produce(cond, z)
        step = max(1, int(max_batch))
        return torch.cat(
            [
                produce(cond.map(lambda t, a=a: t[a : a + step]), None if z is None else z[a : a + step])
                for a in range(0, total, step)
            ]
        )


MAX_NOISE_VALUES = 1 << 28
"""The most noise values one call draws (1 GiB of float32): far beyond any batch of samples."""


def draw_noise(n: int, dim: int, seed: int | None = None, truncation: float | None = None) -> Tensor:
    """(n, dim) standard normal noise, optionally truncated to [-truncation, truncation].

    The truncation trick (BigGAN): the noise is a truncated normal (not clipped), so smaller
    bounds trade variety for typical, cleaner samples. It is drawn by inverting the normal CDF
    (`torch.nn.init.trunc_normal_`), which takes the same time for any bound: redrawing values
    outside the bound would never end for a bound like 1e-12. Drawn on the CPU from its own
    generator so a seed gives the same images on every device.
    """
    if truncation is not None and not truncation > 0:
        raise I2IError(f"--truncation must be > 0, not {truncation}")
    if n * dim > MAX_NOISE_VALUES:
        raise I2IError(f"{n} samples of {dim}-d noise is more than one run draws; use fewer --num-samples")
    g = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
    if truncation is None:
        return torch.randn(n, dim, generator=g)
    bound = min(float(truncation), 20.0)  # beyond 20 the normal's tails are below float precision
    return torch.nn.init.trunc_normal_(torch.empty(n, dim), 0.0, 1.0, -bound, bound, generator=g)


def _from_model_file(path: Path, device: torch.device) -> Pipeline:
    meta, parts = ckpt.load_model(path)
    stored = from_json(meta["config"], path)
    plugin = meta.get("plugin") or stored.to_dict().get("plugin")
    if not isinstance(plugin, str) or not plugin:
        raise InputError(path, f"its stored config names no plugin (plugin: {str(plugin)[:40]!r})")
    modality = get_manager().get_modality(plugin)
    try:
        config = Config(with_new_defaults(modality, stored.to_dict(), f"{path}: stored config"))
        generator = build_for_weights(lambda: build_generator(config), parts.get("generator", {}), path)
        with downloads.from_model_file():  # the file names its parts; fetching them is the user's call
            conditioner = build_conditioner(modality, config)
    except ConfigError as exc:
        raise InputError(path, str(exc).removeprefix(f"{path}: ")) from None
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


def load_pipeline(
    source: str | Path,
    *,
    plugin: str | None = None,
    device: str = "auto",
    model: str | None = None,
    then: Sequence[str] = (),
) -> Pipeline | Chain:
    """Build a ready-to-run pipeline from a model file, run directory, plugin name, hf:// id or foreign file.

    `hf://org/name[@revision]` is a model on the Hugging Face Hub, fetched into its cache
    (`i2i.hub`; with HF_HUB_OFFLINE=1 the cache only). A plugin name runs its default shipped model, `model=` (or `"PLUGIN:MODEL"`) another one of
    them (`i2i.shipped`). `then` (model files, run directories, `PLUGIN:MODEL`) appends stages
    fed with each output: the result is an `i2i.chain.Chain`, which `run_files` takes as well.
    """
    if then:
        from i2i.chain import load_chain

        return load_chain(source, then, plugin=plugin, device=device, model=model)
    from i2i.hub import is_hub_id
    from i2i.shipped import model_file, split_spec

    if is_hub_id(source):  # hf://org/name[@revision]: the Hub's cache (downloading unless offline)
        from i2i.hub import download

        pipe = load_pipeline(download(str(source)), plugin=plugin, device=device, model=model)
        pipe.source = str(source)
        return pipe
    dev = select_device(device)
    path = Path(source)
    manager = get_manager()
    shipped = split_spec(str(source), manager.modalities())
    if shipped is not None:
        name, named = shipped
        if model is not None and named is not None and model != named:
            raise I2IError(f"{source} names model {named!r}, and model= asks for {model!r}: give one")
        return _from_model_file(model_file(manager.get_modality(name), model or named), dev)
    if model is not None:
        raise I2IError(f"--model picks a plugin's shipped model: give --plugin, not a checkpoint ({source})")
    if path.is_dir() and (path / "model.safetensors").exists():
        path = path / "model.safetensors"
    if path.is_dir() and plugin is not None:  # a folder of foreign files (e.g. DF-GAN's netG + encoder)
        return _from_foreign(path, manager.get_modality(plugin), dev)
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


def frame_input(kind: str, frame: Tensor) -> Tensor:
    """A decoded video frame (3,H,W in [-1, 1]) as `read_input` would give it for `kind`; inputs of
    other kinds (a pose or landmark video) get the frame itself, to extract from."""
    return frame.add(1).mul(127.5).round().long() if kind == "labels" else frame


@dataclass(frozen=True)
class _Plan:
    """How one `run_files` call walks its inputs: "single" (one output image), "dir" (the inputs in
    `specs` are folders, their files paired by name) or "video" (`specs[0]` is a video)."""

    mode: str
    specs: tuple[InputSpec, ...] = ()


def _plan(modality: Modality, raw: Mapping[str, Any]) -> _Plan:
    """Directories among the image inputs -> batch mode over their paired files; a video -> video
    mode. One video at most, and not together with directories (frames and files do not pair)."""
    from i2i.data.images import is_video

    dirs: list[InputSpec] = []
    videos: list[InputSpec] = []
    for spec in modality.inputs:
        value = raw.get(spec.name)
        if value is None or spec.multiple or not (spec.kind in SPATIAL_KINDS or spec.video):
            continue
        path = Path(value)
        if spec.kind in SPATIAL_KINDS and path.is_dir():
            dirs.append(spec)
        elif spec.video and is_video(path):
            videos.append(spec)
    if len(videos) > 1:
        raise I2IError(f"only one input may be a video ({videos[0].option} and {videos[1].option} are)")
    if videos and dirs:
        raise I2IError(
            f"{videos[0].option} is a video and {dirs[0].option} a directory: give one or the other"
        )
    if videos:
        return _Plan("video", (videos[0],))
    return _Plan("dir", tuple(dirs)) if dirs else _Plan("single")


def _read_static(
    modality: Modality, raw: Mapping[str, Any], skip: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The inputs that stay the same for every output (image files decoded), and their files."""
    skipped = set(skip)
    out: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for spec in modality.inputs:
        value = raw.get(spec.name)
        if spec.name in skipped or value is None:
            continue
        if spec.kind in SPATIAL_KINDS:
            values = value if spec.multiple else [value]
            tensors = [read_input(spec.kind, v) for v in values]
            out[spec.name] = tensors if spec.multiple else tensors[0]
            files[spec.name] = [Path(v) for v in values] if spec.multiple else Path(value)
        else:
            out[spec.name] = value
    return out, files


def _prepare(pipe: Pipeline, inputs: Mapping[str, Any], state: Any) -> dict[str, Any]:
    """`Pipeline.prepare`; a problem it reports against an input's option (`--labels: class id 40
    ...`) is reported against that input's file when there is exactly one (the reader saw a
    decoded tensor, not the file)."""
    try:
        return pipe.prepare(inputs, state)
    except InputError as exc:
        files = inputs.get(FILES) or {}
        for spec in pipe.modality.inputs:
            found = files.get(spec.name)
            if isinstance(found, list) and len(found) == 1:
                found = found[0]
            if exc.path == spec.option and isinstance(found, Path):
                raise InputError(found, exc.problem) from None
        raise


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
    tiling: TileSettings | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """Run the model on user files; nothing is written at `out` unless everything succeeds.

    `raw` maps input names to what `i2i-run` was given (paths, strings; typed inputs are parsed
    and defaults filled here too). Each call is one input stream per video or folder: the
    reader's state starts fresh, so a second call never sees the first one's video.

    A folder is checked whole before anything is generated (names paired, every file's header
    read), then decoded and generated one batch at a time into a staging folder beside `out`,
    which replaces nothing until the last image is written: memory does not grow with the number
    of images, and a file that fails to decode half-way leaves `out` as it was. `tiling` is passed
    to `Pipeline.generate`; `progress` shows a bar with the rate and ETA on stderr for folders and
    videos (None: when stderr is a terminal).
    """
    from i2i.data.images import VIDEO_EXTENSIONS, list_images, probe_image, save_image

    out = Path(out)
    raw = parse_values(pipe.modality.inputs, raw)
    plan = _plan(pipe.modality, raw)
    static, files = _read_static(pipe.modality, raw, (s.name for s in plan.specs))
    if pipe.modality.adapt:
        resolve_object(pipe.modality.adapt)(pipe, static)
    options = {} if tiling is None else {"tiling": tiling}
    _refuse_overwriting_inputs(out, [*_given_paths(files), *(Path(raw[s.name]) for s in plan.specs)])
    if plan.mode == "single":
        _check_out(out, IMAGE_OUT, "an image")
        state = pipe.new_state()
        samples = [_prepare(pipe, {**s, FILES: files}, state) for s in pipe.samples(static)]
        rows = []
        for start in range(0, len(samples), batch_size):
            chunk_seed = None if seed is None else seed + start  # batches draw different noise
            batch = _collate(samples[start : start + batch_size])
            images = pipe.generate(
                batch, num_samples, chunk_seed, truncation, max_batch=batch_size, **options
            )
            rows += [
                r[0] if num_samples == 1 else torch.cat(list(r), dim=2) for r in images.split(num_samples)
            ]
        # one row per sample, one column per draw; a single image is saved as it is, not copied
        save_image(rows[0] if len(rows) == 1 else torch.cat(rows, dim=1), out)
        return [out]
    if plan.mode == "video":
        from i2i.data.video import VideoWriter, iter_video_frames, probe_video

        spec = plan.specs[0]
        source = Path(raw[spec.name])
        _check_out(out, VIDEO_EXTENSIONS, "a video input")
        if num_samples != 1:
            raise I2IError("--num-samples must be 1 for video input")
        info = probe_video(source)
        stream = pipe.new_state()  # this video's own: tracking, reference frame, last detection
        temporal: dict[str, Any] = {}
        frame_files = {**files, spec.name: source}
        with VideoWriter(out, fps=info.fps) as writer, progress_bar(info.frames, "frame", progress) as bar:
            for chunk in iter_video_frames(source, chunk_size=batch_size):
                samples = [
                    _prepare(
                        pipe,
                        {
                            **static,
                            spec.name: frame_input(spec.kind, frame),
                            VIDEO_FRAME: True,
                            FILES: frame_files,
                        },
                        stream,
                    )
                    for frame in chunk
                ]
                if pipe.temporal:
                    writer.write(pipe.generate_frames(samples, temporal, seed, truncation, **options))
                else:
                    writer.write(pipe.generate(_collate(samples), 1, seed, truncation, **options))
                bar.update(len(samples))
        return [out]
    folders = [(spec, Path(raw[spec.name])) for spec in plan.specs]
    found = [list_images(folder) for _, folder in folders]
    if not found[0]:
        raise InputError(folders[0][1], "no images in this directory")
    if out.suffix.lower() in IMAGE_OUT:
        raise InputError(out, "input is a directory, so --out must be a directory")
    rows = pair_by_name(folders, found)
    stems = output_stems([row[plan.specs[0].name] for row in rows])
    names = {id(row): stem for row, stem in zip(rows, stems)}  # rows live until the end
    for row in rows:  # every header checked before anything is generated (no pixel decoded yet)
        for path in row.values():
            probe_image(path)
    kinds = {spec.name: spec.kind for spec in plan.specs}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    stream = pipe.new_state()  # one stream per folder
    written: list[Path] = []
    try:
        with progress_bar(len(rows), "image", progress) as bar:
            for start in range(0, len(rows), batch_size):
                chunk = [
                    (row, {name: read_input(kinds[name], path) for name, path in row.items()})
                    for row in rows[start : start + batch_size]
                ]
                same = len({tuple(t.shape for t in tensors.values()) for _, tensors in chunk}) == 1
                groups = [chunk] if same else [[item] for item in chunk]
                for group in groups:
                    samples = [
                        _prepare(pipe, {**static, **tensors, FILES: {**files, **row}}, stream)
                        for row, tensors in group
                    ]
                    images = pipe.generate(
                        _collate(samples), num_samples, seed, truncation, max_batch=batch_size, **options
                    )
                    for j, (row, _) in enumerate(group):
                        stem = names[id(row)]
                        for k in range(num_samples):
                            name = f"{stem}.png" if num_samples == 1 else f"{stem}_{k}.png"
                            save_image(images[j * num_samples + k], staging / name)
                            written.append(out / name)
                    bar.update(len(group))
                del chunk, groups, samples, images  # this batch's tensors go before the next is read
        out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            item.replace(out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def output_stems(paths: Sequence[Path]) -> list[str]:
    """A different output name for every input file of a folder, in order: its stem, unless several inputs share it (`a.png` and `a.jpg`), which then
    become `a_png` and `a_jpg`; a name still taken (also compared without case, for filesystems
    that ignore it) gets `_2`, `_3`, ... Without this, the second output would replace the first
    and the run would report files it no longer has."""
    from collections import Counter

    shared = Counter(p.stem.lower() for p in paths)
    used: set[str] = set()
    out: list[str] = []
    for path in paths:
        base = (
            path.stem if shared[path.stem.lower()] == 1 else f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        )
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name.lower())
        out.append(name)
    return out


def _given_paths(files: Mapping[str, Any]) -> list[Path]:
    found: list[Path] = []
    for value in files.values():
        found += [Path(v) for v in value] if isinstance(value, list) else [Path(value)]
    return found


def _refuse_overwriting_inputs(out: Path, inputs: Iterable[Path]) -> None:
    """--out may not be one of the inputs (a file, or the folder being read): the outputs would
    replace the user's originals."""
    target = out.resolve()
    for path in inputs:
        if path.exists() and path.resolve() == target:
            what = "folder" if path.is_dir() else "file"
            raise InputError(
                out,
                f"--out is the input {what} {path}; its originals would be replaced (choose another --out)",
            )


def progress_bar(total: int | None, unit: str, enabled: bool | None = None) -> Any:
    """A tqdm bar on stderr with rate and ETA (without a total: count and rate); `enabled` None
    shows it only when stderr is a terminal, so logs and pipes stay clean. It is removed when done."""
    import sys

    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, unit=unit, disable=not show, file=sys.stderr, dynamic_ncols=True, leave=False)
