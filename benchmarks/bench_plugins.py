#!/usr/bin/env python
"""Every plugin's default training config, the shipped models end to end, and long-video memory.

    python benchmarks/bench_plugins.py [--out FILE] [--steps N]

Prints ONE JSON document on stdout (progress on stderr) and writes it to --out (default
benchmarks/results/plugins-<hostname>.json). Each configuration runs in its own subprocess (this
script re-invoked with ``--one CONFIG``), so each peak RSS is its own:

- ``train/<plugin>``: the plugin's committed default config (what ``i2i-train --plugin P`` runs) on
  a small demo set it writes first; seconds per step (median of the timed steps, data loading
  included, as a user sees it) and peak RSS.
- ``run/<plugin>``: ``i2i-run`` on the shipped default model, wall time of the whole command, cold
  (first run, after emptying the OS file cache where the benchmark may) and warm (median of three
  more); text2img also on its transformers encoder path (onnxruntime hidden) as the baseline.
- ``video/<frames>``: the shipped img2img model on a synthetic video of 24 and 240 frames: peak RSS
  must not grow with the length (frames stream through in chunks).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_img2img import MARK, log, maxrss_mib, q, run_child, time_command  # noqa: E402

PLUGINS = ("img2img", "text2img", "seg2img", "pose2img", "face2img")
DEMO_N = {"img2img": 12, "text2img": 64, "seg2img": 24, "pose2img": 12, "face2img": 8}
VIDEO_FRAMES = (24, 240)
PARTS = ("train", "video", "run")


def run_train(plugin: str, steps: int) -> dict[str, Any]:
    import torch

    from i2i.config import load_config
    from i2i.engine.trainer import Trainer
    from i2i.modality import resolve_object
    from i2i.plugins import get_modality

    torch.set_num_threads(max(1, torch.get_num_threads()))
    modality = get_modality(plugin)
    root = Path(tempfile.mkdtemp(prefix=f"i2i-bench-{plugin}-"))
    resolve_object(modality.demo_data)(root / "data", n=DEMO_N[plugin], seed=0)
    quiet = [f"train.steps={steps}", "train.sample_every=100000", "train.checkpoint_every=100000"]
    config = load_config(modality, sets=[*quiet, "train.tensorboard=false"])
    rss_before = maxrss_mib()
    trainer = Trainer(config, modality, root / "data", root / "run", progress=False)
    times: list[float] = []
    real_step = trainer.train_step

    def timed(micro: Any) -> Any:
        t0 = time.perf_counter()
        out = real_step(micro)
        times.append(time.perf_counter() - t0)
        return out

    trainer.train_step = timed  # type: ignore[method-assign]
    t0 = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - t0
    per_step = statistics.median(times[1:]) if len(times) > 1 else times[0]
    batch = int(config.train.batch_size)
    return {
        "config": f"{plugin} default ({modality.config})",
        "batch_size": batch,
        "image_size": _image_size(trainer),
        "precision": trainer.precision.name,
        "seconds_per_step": q(per_step, "s/step (median after the first)"),
        "train_images_per_s": q(batch / per_step, "images/s"),
        "fit_wall": q(wall, "s"),
        "rss_process_baseline": q(rss_before, "MiB"),
        "rss_peak": q(maxrss_mib(), "MiB"),
    }


def _image_size(trainer: Any) -> list[int]:
    return list(trainer.dataset[(0, 0)]["target"].shape[-2:])


def run_video(frames: int) -> dict[str, Any]:
    import torch

    from i2i.data.video import VideoWriter
    from i2i.pipeline import load_pipeline, run_files

    root = Path(tempfile.mkdtemp(prefix="i2i-bench-video-"))
    source = root / "in.mp4"
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    with VideoWriter(source, fps=24) as writer:
        for start in range(0, frames, 24):
            n = min(24, frames - start)
            shift = torch.arange(start, start + n).view(n, 1, 1, 1) / frames
            writer.write((base.roll(1, -1) * (1 - shift) + base * shift).clamp(-1, 1))
    pipe = load_pipeline("img2img", device="cpu")
    rss_loaded = maxrss_mib()
    t0 = time.perf_counter()
    run_files(pipe, {"input": str(source)}, root / "out.mp4", batch_size=4)
    wall = time.perf_counter() - t0
    return {
        "frames": frames,
        "input_size": [64, 64],
        "model": "img2img shipped default (x4 super-resolution, 256x256 output frames)",
        "seconds": q(wall, "s"),
        "ms_per_frame": q(1000 * wall / frames, "ms/frame"),
        "rss_after_loading": q(rss_loaded, "MiB"),
        "rss_peak": q(maxrss_mib(), "MiB"),
    }


def child_main(config: str, steps: int) -> int:
    kind, _, rest = config.partition(":")
    try:
        result = run_train(rest, steps) if kind == "train" else run_video(int(rest))
        result["status"] = "ok"
    except Exception as exc:
        result = {
            "status": f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        }
    print(MARK + json.dumps(result), flush=True)
    return 0


# The baseline: the same command with ONNX Runtime hidden, so text2img's encoder falls back to
# transformers (what every run did before the shipped ONNX graph).
WITHOUT_ONNXRUNTIME = (
    "import sys; sys.modules['onnxruntime'] = None; from i2i.cli.main import run_main; run_main()"
)


def run_commands(bin_dir: Path, work: Path) -> dict[str, Any]:
    """Whole `i2i-run` commands on the shipped models, the way a user types them, and the text2img
    one again on the transformers encoder path as the baseline measured in the same run."""
    args = ["--plugin", "text2img", "--prompt", "red bird with short beak", "--out", str(work / "bird.png")]
    cases = {
        "text2img": [str(bin_dir / "i2i-run"), *args],
        "text2img_transformers_baseline": [sys.executable, "-c", WITHOUT_ONNXRUNTIME, *args],
        # the floor any command that runs a PyTorch model pays: starting Python and importing torch
        "import_torch_floor": [sys.executable, "-c", "import torch"],
    }
    out: dict[str, Any] = {}
    for name, argv in cases.items():
        log(f"i2i-run {name}")
        out[name] = {"status": "ok", **time_command(argv, cold_disk=True)}
    fast, slow = out["text2img"], out["text2img_transformers_baseline"]
    for key in ("cold_s", "warm_median_s"):
        out[f"text2img_speedup_{key[:-2]}"] = q(
            slow[key]["value"] / fast[key]["value"], "x (baseline / onnx)"
        )
    return out


def parent_main(args: argparse.Namespace) -> int:
    from importlib.metadata import version

    doc: dict[str, Any] = {
        "benchmark": "i2i plugins: default training configs, shipped models, long video",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "hostname": socket.gethostname(),
            "python": sys.version.split()[0],
            "torch": version("torch"),
        },
        "settings": {"train_steps": args.steps, "demo_n": DEMO_N, "device": "cpu"},
        "train": {},
        "video": {},
    }
    for plugin in PLUGINS if "train" in args.only else ():
        log(f"train {plugin}")
        doc["train"][plugin] = run_child(
            f"train:{plugin}",
            False,
            timeout=1800,
            script=Path(__file__).resolve(),
            extra=("--steps", str(args.steps)),
        )
    for frames in VIDEO_FRAMES if "video" in args.only else ():
        log(f"video {frames} frames")
        doc["video"][str(frames)] = run_child(
            f"video:{frames}", False, timeout=1800, script=Path(__file__).resolve()
        )
    short, long = (doc["video"].get(str(f), {}).get("rss_peak", {}).get("value") for f in VIDEO_FRAMES)
    if short and long:
        doc["video"]["rss_growth_long_vs_short"] = q(long / short, "x (peak RSS 240 frames / 24 frames)")
    if "run" in args.only:
        with tempfile.TemporaryDirectory() as work:
            doc["run"] = run_commands(Path(sys.executable).parent, Path(work))
    text = json.dumps(doc, indent=1)
    print(text)
    out = Path(args.out or HERE / "results" / f"plugins-{socket.gethostname()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    log(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", help="where to write the JSON (default benchmarks/results/plugins-<host>.json)")
    p.add_argument("--steps", type=int, default=4, help="training steps per plugin (the first is not timed)")
    p.add_argument(
        "--only",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="measure only these parts (a partial run writes a partial JSON: give --out)",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        return child_main(args.one, args.steps)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
