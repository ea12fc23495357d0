"""`i2i`, `i2i-run` and `i2i-train`. Heavy modules are imported inside the commands that need
them, so `i2i plugins` and `--help` never import torch."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from i2i import __version__
from i2i.allocator import keep_freed_memory
from i2i.errors import I2IError
from i2i.plugins import PluginError, get_manager, report_failures

PROG = "i2i"
MAX_NUM_SAMPLES = 256  # draws per input: a grid of 256 is already wider than any screen
MAX_BATCH_SIZE = 1024  # images generated at once


class UsageError(I2IError):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _guard(fn: Callable[[list[str]], int], argv: Sequence[str] | None) -> int:
    """The one place where every failure of a command becomes an exit status and one line.

    2: bad usage or bad input (i2i's own errors, a file or folder the system refuses, memory the
    input needs and the machine lacks); 130: interrupted; 1: anything else, an internal error,
    still one line. ``I2I_DEBUG=1`` lets the exception through with its traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("I2I_DEBUG", "") not in ("", "0")
    try:
        return fn(args)
    except (I2IError, PluginError) as exc:
        if debug:
            raise
        print(f"error: {exc}" if not str(exc).startswith(("i2i", "error")) else str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM (see _terminate_raises), a stopped run
        print(str(exc) or "interrupted", file=sys.stderr)
        return int(getattr(exc, "exit_status", 130))
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            raise
        status, line = _failure_line(exc)
        print(line, file=sys.stderr)
        return status


def _failure_line(exc: BaseException) -> tuple[int, str]:
    """(exit status, one line) for an exception no i2i code turned into an I2IError."""
    text = " ".join(str(exc).split())[:300]
    if isinstance(exc, OSError) and exc.strerror:  # --out on a read-only disk, EXDEV, ENOSPC, ...
        where = exc.filename if exc.filename is not None else ""
        other = f" -> {exc.filename2}" if exc.filename2 is not None else ""
        return 2, f"error: {where}{other}: {exc.strerror}" if where else f"error: {exc.strerror}"
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return 2, (
            f"error: out of memory for this input ({type(exc).__name__}); "
            "try a smaller --batch-size, --tile or --max-memory"
        )
    hint = "set I2I_DEBUG=1 for the traceback and report it"
    return 1, f"i2i: internal error: {type(exc).__name__}: {text} ({hint})"


# ---- i2i plugins ------------------------------------------------------------------------------
def _input_type(spec: Any) -> str:
    """What `i2i plugins` says an input takes: its kind, or its value type (`AtoB|BtoA`, `int`)."""
    if spec.type == "choice":
        return "|".join(spec.choices)
    return spec.kind if spec.type == "str" else spec.type


def cmd_plugins(args: argparse.Namespace) -> int:
    from i2i.shipped import describe, shipped_models

    manager = get_manager()
    infos = manager.plugins()
    modalities = manager.modalities()
    rows = []
    for info in infos:
        if info.distribution == "i2i-core" and not info.modalities:
            continue
        for name in info.modalities or [None]:
            mod = modalities.get(name) if name else None
            rows.append(
                {
                    "name": name or info.name,
                    "distribution": info.distribution,
                    "version": info.version,
                    "inputs": [f"{s.option} ({_input_type(s)})" for s in mod.inputs] if mod else [],
                    "summary": mod.summary if mod else "",
                    "status": info.status_line,
                    "models": [m.as_dict() for m in shipped_models(mod)] if mod else [],
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no i2i plugins installed (pip install ./plugins/<name>)")
        return 0
    for row in rows:
        inputs = ", ".join(row["inputs"]) or "-"
        mod = modalities.get(row["name"])
        models = f"; models: {describe(shipped_models(mod))}" if mod and mod.models else ""
        print(
            f"{row['name']:<10} {row['distribution']:<14} {row['version']:<8} {row['status']:<8} "
            f"inputs: {inputs}{models}"
        )
    return 0


# ---- i2i data demo ----------------------------------------------------------------------------
def cmd_data_demo(args: argparse.Namespace) -> int:
    from i2i.data.demo import write_demo

    modality = get_manager().get_modality(args.name)
    write_demo(modality, args.out, n=args.n, seed=args.seed)  # no --n: the writer's own default
    print(f"wrote {modality.name} demo data to {args.out}")
    return 0


def cmd_data_frames(args: argparse.Namespace) -> int:
    """Frames named so that temporal mode knows their clip and order: `<video stem>_<00000>.png`
    (wider numbers for longer videos, and listing sorts numbers naturally either way).

    All frames of all videos are written into a staging folder beside --out and moved in only when
    every video has been decoded to its end: a video that turns out cut or corrupt half-way leaves
    --out as it was."""
    import shutil
    import tempfile

    from i2i.data.images import save_image
    from i2i.data.video import iter_video_frames, probe_video

    out = Path(args.out)
    videos = [Path(v) for v in args.videos]
    infos = [probe_video(video) for video in videos]  # every file checked before any frame is written
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        counts = []
        for video, info in zip(videos, infos):
            width = max(5, len(str(max(int(info.frames or 0) - 1, 0))))
            count = 0
            for chunk in iter_video_frames(video, chunk_size=16):
                for frame in chunk:
                    save_image(frame, staging / f"{video.stem}_{count:0{width}d}.png")
                    count += 1
            counts.append(count)
        out.mkdir(parents=True, exist_ok=True)
        for item in sorted(staging.iterdir()):
            item.replace(out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for video, count in zip(videos, counts):
        print(f"{video}: {count} frames -> {out}")
    return 0


# ---- i2i eval ------------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from i2i.modality import resolve_object
    from i2i.pipeline import load_pipeline

    pipe = load_pipeline(args.checkpoint, plugin=args.plugin, device=args.device)
    if args.sets:
        from i2i.config import Config, merge, parse_sets, set_override

        data = pipe.config.to_dict()
        for key, value in parse_sets(args.sets):
            if not key.startswith("data."):
                raise UsageError(f"i2i eval: --set {key}: only data.* keys can change at evaluation")
            data = merge(data, set_override(key, value), f"--set {key}")
        pipe.config = Config(data)
    if not pipe.modality.evaluator:
        raise I2IError(f"plugin {pipe.modality.name} has no evaluator")
    from i2i.metrics.result import conform, flat

    evaluate = resolve_object(pipe.modality.evaluator)
    raw = evaluate(pipe, Path(args.data), split=args.split, limit=args.limit)
    result = conform(pipe, Path(args.data), args.split, raw)  # the common header, whatever the plugin
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in flat(result).items():
            print(f"{k}: {v}")
    return 0


# ---- i2i export ----------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "hub":
        return _export_hub(args)
    from i2i.export import export_onnx

    result = export_onnx(args.checkpoint, args.out, plugin=args.plugin, data=args.data, fmt=args.format)
    inputs = ", ".join(f"{k} {tuple(v)}" for k, v in result.inputs.items())
    print(f"wrote {result.model} and {result.meta} in {result.seconds:.1f} s")
    print(f"inputs: {inputs}; output: image {tuple(result.output)}; height/width: {result.spatial}")
    print(f"max abs difference to PyTorch: {result.max_abs_diff:.2g}")
    for name, part in result.parts.items():
        files = "".join(f" and {path}" for path in part.files.values())
        print(f"part {name}: {part.model}{files} (max abs difference {part.max_abs_diff:.2g})")
    return 0


def _hub_options(p: argparse.ArgumentParser) -> None:
    """Options of the Hub folder, shared by `i2i export --format hub` and `i2i push`."""
    p.add_argument("--license", default="mit", help="licence id for the model card (default: mit)")
    p.add_argument("--dataset", dest="datasets", action="append", default=[], metavar="ID",
                   help="a Hub dataset id the model was trained on, for the card (repeatable)")  # fmt: skip
    p.add_argument(
        "--tag", dest="tags", action="append", default=[], metavar="TAG", help="a card tag (repeatable)"
    )
    p.add_argument("--card", metavar="MD", help="a Markdown file whose text ends the model card")
    p.add_argument("--no-samples", action="store_true", help="no sample grid in the card")


def _export_hub(args: argparse.Namespace, repo: str | None = None, out: str | None = None) -> int:
    from i2i.hub_export import export_hub

    result = export_hub(
        args.checkpoint,
        out or args.out,
        plugin=args.plugin,
        data=args.data,
        repo=repo or getattr(args, "repo", None),
        license=args.license,
        datasets=args.datasets,
        tags=args.tags,
        card=args.card,
        samples=not args.no_samples,
    )
    names = ", ".join(p.name for p in result.files)
    print(f"wrote {result.folder}/ ({names}); pipeline_tag {result.pipeline_tag}")
    if result.evaluated:
        print("evaluated: " + ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items()))
    return 0


# ---- i2i push -------------------------------------------------------------------------------------
def cmd_push(args: argparse.Namespace) -> int:
    """Upload a model (an exported Hub folder as it is; else a model file, run directory or
    plugin name, exported to a temporary Hub folder first) to the Hub repository `org/name`."""
    import tempfile

    from i2i.hub import push, repo_id

    repo = repo_id(args.repo)
    source = Path(args.checkpoint)
    if source.is_dir() and (source / "README.md").is_file() and (source / "config.json").is_file():
        url = push(source, repo, private=args.private)
    else:
        with tempfile.TemporaryDirectory(prefix="i2i-push-") as tmp:
            _export_hub(args, repo=repo, out=str(Path(tmp) / "hub"))
            url = push(Path(tmp) / "hub", repo, private=args.private)
    print(f"pushed to {repo}: {url}")
    return 0


# ---- i2i serve ---------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from i2i.serve import serve  # imports Gradio only here

    if not 0 < args.port < 65536:
        raise UsageError("i2i serve: --port must be from 1 to 65535")
    serve(args.checkpoint, host=args.host, port=args.port, device=args.device)
    return 0


# ---- i2i-train ------------------------------------------------------------------------------------
def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", help="modality to train (read from the run directory on --resume)")
    p.add_argument("--data", required=True, help="data directory")
    p.add_argument("--out", required=True, help="run directory (checkpoints, samples, report.html)")
    p.add_argument("--config", help="YAML file or a preset name of the plugin (e.g. sr)")
    p.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override a key"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument(
        "--init",
        metavar="SRC",
        help="start from these weights (i2i model file, run directory or a checkpoint the plugin imports, "
        "e.g. a published latest_net_G.pth); its architecture replaces the config's model sections",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--nproc",
        type=int,
        default=None,
        metavar="N",
        help="train with N processes on this node (torchrun + DDP: one per GPU, or gloo on CPU)",
    )


def cmd_train(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    from i2i.config import Config, apply_sets, load_config, read_yaml, with_new_defaults

    run_dir = Path(args.out)
    saved = run_dir / "config.yaml"
    if args.init and args.resume:
        raise UsageError("i2i-train: --init starts a new run; --resume continues one (give one of them)")
    init_states = None
    if args.resume and saved.exists():
        data = read_yaml(saved)
        plugin = data.get("plugin")
        if args.plugin and plugin != args.plugin:
            raise I2IError(f"{saved}: run is for plugin {plugin!r}, not {args.plugin!r}")
        modality = get_manager().get_modality(str(plugin))
        config = Config(apply_sets(with_new_defaults(modality, data), args.sets))
    else:
        if not args.plugin:
            raise UsageError("i2i-train: --plugin is required (except with --resume on an existing run)")
        modality = get_manager().get_modality(args.plugin)
        config = load_config(modality, args.config, args.sets)
        if (
            not args.resume
            and (run_dir / "checkpoints").exists()
            and any((run_dir / "checkpoints").iterdir())
        ):
            raise I2IError(f"{run_dir}: run directory has checkpoints; use --resume or another --out")
        source = args.init or config.train.init
        if source:
            from i2i.engine.init import init_from

            imported, init_states = init_from(str(source), modality)
            config = load_config(modality, args.config, args.sets, imported=imported)
    from i2i.validation import validate

    validate(modality, config)  # the plugin's own values, before anything trains or is written
    data = Path(args.data)
    if not data.exists():
        raise I2IError(f"{data}: data directory does not exist")
    if args.nproc is not None and "LOCAL_RANK" not in os.environ:  # not yet under torchrun
        return _launch_torchrun(args.nproc, argv)
    from i2i.engine import distributed
    from i2i.engine.trainer import Trainer

    trainer = Trainer(config, modality, data, run_dir, progress=not args.quiet, init=init_states)
    try:
        model = trainer.fit(resume=args.resume)
    finally:
        distributed.shutdown()
    if trainer.world.main:
        print(f"model: {model}\nreport: {run_dir / 'report.html'}")
    return 0


def _launch_torchrun(nproc: int, argv: Sequence[str]) -> int:
    """`i2i-train --nproc N ...` = `torchrun --standalone --nproc_per_node N -m i2i.cli.train ...`,
    after the arguments have been checked here (a bad one is one line, not N tracebacks). The
    processes get the other arguments (torchrun would take `--nproc` for an abbreviation of its own
    options, and i2i-train accepts no abbreviations, so the exact spellings are all there is)."""
    import subprocess

    if nproc < 1:
        raise UsageError("i2i-train: --nproc must be at least 1")
    rest = [
        a
        for a, b in zip(argv, ["", *argv])
        if a != "--nproc" and b != "--nproc" and not a.startswith("--nproc=")
    ]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return subprocess.call([*cmd, "-m", "i2i.cli.train", *rest])


# ---- i2i-run -------------------------------------------------------------------------------------
def _run_base_parser(add_help: bool) -> argparse.ArgumentParser:
    p = _Parser(
        prog="i2i-run",
        add_help=add_help,
        description="Generate images with a trained model or a plugin's shipped default model.",
    )
    p.add_argument("--plugin", help="plugin to run (its shipped default model unless --checkpoint)")
    p.add_argument(
        "--model", metavar="NAME", help="one of the plugin's shipped models (i2i plugins lists them)"
    )
    p.add_argument(
        "--checkpoint",
        help="i2i model file, run directory, hf://org/name[@revision] (Hugging Face Hub), or a foreign "
        "checkpoint to import",
    )
    p.add_argument(
        "--then",
        action="append",
        default=[],
        metavar="SPEC",
        help="then run this model on each output (repeatable): a model file, a run directory or PLUGIN:MODEL",
    )
    p.add_argument("--out", help="output image, directory or video")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument(
        "--truncation",
        type=float,
        default=None,
        metavar="T",
        help="draw noise from a normal truncated to [-T, T]: lower T, more typical and less varied images",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="N",
        help="generate large inputs as overlapping, blended tiles of at most N x N input pixels "
        "(0: never tile; default: tiles only where the input would not fit --max-memory)",
    )
    p.add_argument(
        "--max-memory",
        type=_memory_size,
        default=None,
        metavar="SIZE",
        help="memory one tile may take, e.g. 2G or 512M (default: a quarter of the available memory, at most 1G)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar (folders and videos)")
    return p


def _memory_size(text: str) -> int:
    from i2i.tiling import parse_size  # imports torch: only when the option is given

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _plugin_for(args: argparse.Namespace) -> str | None:
    if args.plugin:
        return args.plugin
    if args.checkpoint:
        from i2i.engine.checkpoint import read_metadata
        from i2i.hub import download, is_hub_id

        path = download(args.checkpoint) if is_hub_id(args.checkpoint) else Path(args.checkpoint)
        if path.is_dir():
            path = path / "model.safetensors"
        if path.suffix == ".safetensors" and path.is_file():
            return read_metadata(path).get("plugin")
    return None


def _input_argument(spec: Any) -> dict[str, Any]:
    """argparse keywords for one InputSpec: its value type parsed and checked by the core (a bad
    value is argparse's one-line usage error), with the type, choices and default in `--help`."""

    def parse(text: str) -> Any:
        try:
            return spec.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    kwargs: dict[str, Any] = {"dest": spec.name, "type": parse, "metavar": spec.metavar}
    notes = [f"default: {spec.default}"] if spec.default is not None else []
    if spec.minimum is not None or spec.maximum is not None:
        low = "" if spec.minimum is None else f"{spec.minimum:g}"
        high = "" if spec.maximum is None else f"{spec.maximum:g}"
        notes.insert(0, f"{spec.type} {low}..{high}")
    elif spec.type in ("int", "float"):
        notes.insert(0, spec.type)
    kwargs["help"] = spec.help + (f" ({'; '.join(notes)})" if notes else "")
    if spec.multiple:
        kwargs["action"] = "append"
    return kwargs


class Terminated(KeyboardInterrupt):
    """SIGTERM during `i2i-run`: raised in the main thread so that every `finally` and context
    manager on the way out runs (staging folders and temporary videos are removed, nothing at
    --out changes), as for Ctrl-C; exit status 143 (128 + SIGTERM)."""

    exit_status = 143

    def __init__(self) -> None:
        super().__init__("terminated (SIGTERM): nothing written")


@contextlib.contextmanager
def _terminate_raises() -> Iterator[None]:
    """SIGTERM's default action kills the process before any cleanup; inside this block it raises
    `Terminated` instead (main thread only; a SIGTERM inherited as ignored stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_command(argv: list[str]) -> int:
    with _terminate_raises():
        return _run_command(argv)


def _run_command(argv: list[str]) -> int:
    report_failures()
    pre, _ = _run_base_parser(add_help=False).parse_known_args(argv)
    plugin = _plugin_for(pre)
    parser = _run_base_parser(add_help=True)
    modality = None
    if plugin:
        modality = get_manager().get_modality(plugin)
        group = parser.add_argument_group(f"{modality.name} inputs", modality.summary)
        for spec in modality.inputs:
            group.add_argument(spec.option, **_input_argument(spec))
    args = parser.parse_args(argv)
    if modality is None:
        raise UsageError("i2i-run: give --plugin NAME or --checkpoint FILE (see i2i plugins)")
    raw = {s.name: getattr(args, s.name) for s in modality.inputs if getattr(args, s.name) is not None}
    from i2i.inputs import parse_values

    raw = parse_values(modality.inputs, raw)  # defaults of the inputs not given
    missing = [s.option for s in modality.inputs if s.required and s.name not in raw]
    if missing:
        raise UsageError(f"i2i-run: {modality.name} needs {', '.join(missing)}")
    if not args.out:
        raise UsageError("i2i-run: --out is required")
    if args.model and args.checkpoint:
        raise UsageError("i2i-run: --model picks a shipped model of --plugin; --checkpoint a file (give one)")
    if not (1 <= args.num_samples <= MAX_NUM_SAMPLES and 1 <= args.batch_size <= MAX_BATCH_SIZE):
        raise UsageError(
            f"i2i-run: --num-samples must be from 1 to {MAX_NUM_SAMPLES} and --batch-size from 1 to {MAX_BATCH_SIZE}"
        )
    if args.truncation is not None and not args.truncation > 0:
        raise UsageError("i2i-run: --truncation must be > 0")
    if args.tile is not None and args.tile < 0:
        raise UsageError("i2i-run: --tile must be 0 (no tiling) or a tile side in pixels")
    for spec in modality.inputs:
        if spec.kind != "text" and spec.name in raw:  # every file input exists before any work
            for value in raw[spec.name] if spec.multiple else [raw[spec.name]]:
                if not Path(value).exists():
                    raise I2IError(f"{value}: no such file or directory")
    from i2i.pipeline import load_pipeline, run_files

    pipe = load_pipeline(
        args.checkpoint or modality.name,
        plugin=modality.name,
        device=args.device,
        model=args.model,
        then=args.then,
    )
    written = run_files(
        pipe,
        raw,
        args.out,
        num_samples=args.num_samples,
        seed=args.seed,
        batch_size=args.batch_size,
        truncation=args.truncation,
        tiling=_tiling(args),
        progress=False if args.quiet else None,
    )
    print(f"wrote {written[0] if len(written) == 1 else f'{len(written)} files to {args.out}'}")
    return 0


def _tiling(args: argparse.Namespace) -> Any:
    """--tile / --max-memory as `i2i.tiling.TileSettings`; None when neither is given (defaults)."""
    if args.tile is None and args.max_memory is None:
        return None
    from i2i.tiling import TileSettings

    return TileSettings(tile=args.tile, max_memory=args.max_memory)


def train_command(argv: list[str]) -> int:
    p = _Parser(prog="i2i-train", description="Train a modality on a data directory.", allow_abbrev=False)
    add_train_arguments(p)
    args = p.parse_args(argv)
    report_failures()
    return cmd_train(args, argv)


# ---- i2i -------------------------------------------------------------------------------------
def i2i_command(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        return run_command(argv[1:])
    if argv[:1] == ["train"]:
        return train_command(argv[1:])
    p = _Parser(prog=PROG, description="Conditional image generation with GANs; conditions are plugins.")
    p.add_argument("--version", action="version", version=f"i2i {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sp = sub.add_parser("plugins", help="list installed plugins")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_plugins)
    sub.add_parser("run", help="same as i2i-run", add_help=False)
    sub.add_parser("train", help="same as i2i-train", add_help=False)
    data = sub.add_parser("data", help="data sets")
    dsub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    demo = dsub.add_parser("demo", help="write a plugin's synthetic data set")
    demo.add_argument("name")
    demo.add_argument("--out", required=True)
    demo.add_argument(
        "--n", type=int, default=None, help="number of samples (the plugin's default if not given)"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(fn=cmd_data_demo)
    frames = dsub.add_parser(
        "frames", help="write a video's frames as <video>_<number>.png (temporal training)"
    )
    frames.add_argument("videos", nargs="+", help="video files")
    frames.add_argument("--out", required=True, help="folder for the frames (e.g. DATA/train/B)")
    frames.set_defaults(fn=cmd_data_frames)
    ev = sub.add_parser("eval", help="score a model on a data set (JSON with --json)")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--plugin")
    ev.add_argument("--data", required=True)
    ev.add_argument("--split", default="test")
    ev.add_argument("--limit", type=int, default=None)
    ev.add_argument("--device", default="auto")
    ev.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="data.KEY=VALUE",
        help="change a data option for evaluation (e.g. data.crop_size=256)",
    )
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(fn=cmd_eval)
    xp = sub.add_parser("export", help="write a model's generator as ONNX, with a JSON of its inputs")
    xp.add_argument(
        "--checkpoint",
        required=True,
        help="model file, run directory, plugin name (shipped model) or hf://org/name[@revision]",
    )
    xp.add_argument("--plugin", help="plugin of a foreign checkpoint")
    xp.add_argument(
        "--format",
        default="onnx",
        choices=("onnx", "hub"),
        help="onnx (generator graph) or hub (a Hugging Face Hub folder: model, config, model card)",
    )
    xp.add_argument(
        "--out",
        required=True,
        help="the .onnx file to write (its .json is written beside it); for hub, the folder",
    )
    xp.add_argument(
        "--data",
        help="data directory to take the example input from (default: the demo data); "
        "for hub, also scored by i2i eval for the model card",
    )
    xp.add_argument("--repo", metavar="ORG/NAME", help="hub: the repository id the card's examples use")
    _hub_options(xp)
    xp.set_defaults(fn=cmd_export)
    sv = sub.add_parser(
        "serve", help="a local web page (Gradio) with a tab per plugin; pip install './core[ui]'"
    )
    sv.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="MODEL",
        help="a tab for this model file, run directory or PLUGIN:MODEL (repeatable; default: a tab per plugin)",
    )
    sv.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    sv.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    sv.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    sv.set_defaults(fn=cmd_serve)
    ps = sub.add_parser("push", help="upload a model to the Hugging Face Hub (huggingface_hub's login)")
    ps.add_argument(
        "checkpoint", help="exported Hub folder, model file, run directory or plugin name (shipped model)"
    )
    ps.add_argument("repo", metavar="ORG/NAME", help="the model repository (created if missing)")
    ps.add_argument("--plugin", help="plugin of a foreign checkpoint")
    ps.add_argument("--data", help="data directory to score the model on for the card (i2i eval)")
    ps.add_argument("--private", action="store_true", help="create the repository private")
    _hub_options(ps)
    ps.set_defaults(fn=cmd_push)
    args = p.parse_args(argv)
    if args.command != "plugins":
        report_failures()
    return args.fn(args)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    keep_freed_memory()  # before any tensor (i2i.allocator): serve, eval, export run inference
    sys.exit(_guard(i2i_command, argv))


def run_main(argv: Sequence[str] | None = None) -> NoReturn:
    keep_freed_memory()  # before any tensor: large feature maps reuse freed pages (i2i.allocator)
    sys.exit(_guard(run_command, argv))


def train_main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(_guard(train_command, argv))


if __name__ == "__main__":
    main()
