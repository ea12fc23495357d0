#!/usr/bin/env python
"""Whole-process training benchmark: the original pix2pix `train.py` against `i2i-train`.

    python benchmarks/bench_train_original.py --original /tmp/anchors/pix2pix-color [--reps 3]

ORIGINAL (or the environment variable I2I_ORIGINAL_PIX2PIX) is a checkout of
junyanz/pytorch-CycleGAN-and-pix2pix (tested at commit c3268ed; its `util/html.py` needs the
`dominate` package). Nothing of it is imported here: it runs as its users run it.

Both programs train pix2pix (unet_256 + 70x70 PatchGAN, batch norm, 256x256, batch 1, vanilla GAN
+ 100 * L1, Adam 2e-4) for the same number of steps on the same aligned data, i2i's demo facades
(`i2i_img2img.demo.write_demo`, 64 images of 256x256 pairs, 50 in train/):

- original: `python train.py --model pix2pix --netG unet_256 --gpu_ids -1 --batch_size 1
  --n_epochs 1 --n_epochs_decay 0 --max_dataset_size STEPS --display_id 0 --save_epoch_freq 1`
  (one epoch of STEPS images; it saves `latest` and `1` G and D at the end, as i2i saves its model
  and run state; everything else its defaults: 4 loader workers, resize 286 + crop 256 + flip);
- i2i: `i2i-train --plugin img2img --set train.steps=STEPS --quiet` with the default config
  (precision auto, channels_last, 0 loader workers, TensorBoard when installed). `precision: auto`
  times a few steps in each candidate precision before a new model's first run and caches the
  answer per machine and model (~/.cache/i2i); the benchmark gives i2i a cache of its own
  (XDG_CACHE_HOME in its temporary folder): the first i2i run, reported apart as `i2i_first_run`,
  pays that measurement, and the interleaved runs after it find the answer cached, as a user's
  every later run does.

Each run is a fresh process, timed from launch to exit (wall) with its peak RSS: `ru_maxrss` from
wait4 (the largest single process among it and its reaped children) and the peak of the summed PSS
of its process tree (loader workers included), sampled every 0.5 s. Runs alternate (original,
i2i, original, i2i, ...) so load from other work on the machine hits both alike; medians are
reported. With `--short-steps K` (default 5) each program also runs K steps, which splits its wall
time into a per-step cost and a fixed cost (start-up, building, saving): wall(STEPS) - wall(K)
= (STEPS - K) x per step.

Writes benchmarks/results/train-original-<hostname>.json (or --out) and prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SAMPLE_S = 0.5  # how often the process tree's PSS is read (each read costs CPU the runs share)


def q(value: Any, unit: str) -> dict[str, Any]:
    if isinstance(value, float):
        value = float(f"{value:.4g}")
    return {"value": value, "unit": unit}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---- measuring one process tree ------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out += [int(c) for c in text.split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _pss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def run_measured(
    cmd: list[str], cwd: Path, log_path: Path, timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run cmd to completion: wall seconds, wait4 peak RSS, sampled peak PSS of the whole tree."""
    peak = {"pss": 0.0}
    with open(log_path, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak["pss"] = max(peak["pss"], sum(_pss_mib(p) for p in _tree(proc.pid)))
                done.wait(SAMPLE_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            done.set()
        wall = time.perf_counter() - t0
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"{cmd[0]} ... exited with {proc.returncode}: " + " | ".join(tail))
    return {"wall_s": wall, "maxrss_mib": usage.ru_maxrss / 1024.0, "tree_pss_peak_mib": peak["pss"]}


# ---- the two programs ------------------------------------------------------------------------------
def original_cmd(original: Path, data: Path, ckpt: Path, steps: int) -> list[str]:
    return [
        sys.executable, str(original / "train.py"), "--dataroot", str(data), "--name", "bench",
        "--checkpoints_dir", str(ckpt), "--model", "pix2pix", "--netG", "unet_256",
        "--direction", "AtoB", "--gpu_ids", "-1", "--batch_size", "1", "--n_epochs", "1",
        "--n_epochs_decay", "0", "--max_dataset_size", str(steps), "--display_id", "0",
        "--save_epoch_freq", "1",
    ]  # fmt: skip


def i2i_cmd(data: Path, run: Path, steps: int) -> list[str]:
    return [str(BIN / "i2i-train"), "--plugin", "img2img", "--data", str(data), "--out", str(run),
            "--set", f"train.steps={steps}", "--quiet"]  # fmt: skip


def i2i_settings(run: Path) -> dict[str, Any]:
    """What the i2i run resolved (precision auto's choice, workers) and its last logged speed."""
    import yaml

    out: dict[str, Any] = {}
    try:
        config = yaml.safe_load((run / "config.yaml").read_text())
        out["train"] = {
            k: config["train"].get(k) for k in ("precision", "channels_last", "num_workers", "compile")
        }
        out["generator"] = config["model"]["generator"]
    except (OSError, KeyError, TypeError):
        pass
    try:
        last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        out["steps_per_s_logged"] = [r["steps_per_s"] for r in last if "steps_per_s" in r][-1]
    except (OSError, IndexError, KeyError, ValueError):
        pass
    return out


def _machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    import torch

    return {
        "hostname": socket.gethostname(),
        "cpu_model": model,
        "usable_cores": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--original", type=Path, default=os.environ.get("I2I_ORIGINAL_PIX2PIX"),
                   help="checkout of junyanz/pytorch-CycleGAN-and-pix2pix (or $I2I_ORIGINAL_PIX2PIX)")  # fmt: skip
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--short-steps", type=int, default=5, help="second, shorter run per program (0: none)")
    p.add_argument("--reps", type=int, default=3, help="runs of each program at each length")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    p.add_argument("--out", type=Path, help="default benchmarks/results/train-original-<hostname>.json")
    args = p.parse_args(argv)
    if args.original is None or not (args.original / "train.py").is_file():
        p.error("--original must be a checkout of the original pix2pix code (with train.py)")
    original = args.original.resolve()
    out_path = args.out or HERE / "results" / f"train-original-{socket.gethostname()}.json"
    lengths = [args.steps] + ([args.short_steps] if 0 < args.short_steps < args.steps else [])
    from i2i_img2img.demo import write_demo

    started = time.perf_counter()
    load_start = list(os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="i2i-bench-orig-"))
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {"original": {}, "i2i": {}}
    settings: dict[str, Any] = {}
    i2i_env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "cache")}  # precision auto's cache, own
    try:
        counts = write_demo(tmp / "data", n=64, seed=0, size=256)
        if counts["train"] < args.steps:
            p.error(f"--steps {args.steps} is more than the {counts['train']} training images")
        log(f"i2i first run, {args.steps} steps (precision auto measures and caches its choice)")
        first = run_measured(i2i_cmd(tmp / "data", tmp / "i2i-first", args.steps), tmp,
                             tmp / "i2i-first.log", args.timeout, i2i_env)  # fmt: skip
        log(f"  {first['wall_s']:.1f} s")
        settings = i2i_settings(tmp / "i2i-first")
        shutil.rmtree(tmp / "i2i-first", ignore_errors=True)
        for rep in range(args.reps):
            for steps in lengths:
                for name in ("original", "i2i"):  # interleaved, so load on the machine hits both alike
                    work = tmp / f"{name}-{steps}-{rep}"
                    if name == "original":
                        cmd, cwd, env = original_cmd(original, tmp / "data", work, steps), original, None
                    else:
                        cmd, cwd, env = i2i_cmd(tmp / "data", work, steps), tmp, i2i_env
                    log(f"rep {rep + 1}/{args.reps}: {name}, {steps} steps")
                    result = run_measured(cmd, cwd, tmp / f"{name}-{steps}-{rep}.log", args.timeout, env)
                    log(f"  {result['wall_s']:.1f} s, maxrss {result['maxrss_mib']:.0f} MiB, "
                        f"tree PSS {result['tree_pss_peak_mib']:.0f} MiB")  # fmt: skip
                    runs[name].setdefault(steps, []).append(result)
                    shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    programs: dict[str, Any] = {}
    for name, by_len in runs.items():
        long = by_len[args.steps]
        entry: dict[str, Any] = {
            "command": " ".join(
                original_cmd(original, Path("<data>"), Path("<ckpt>"), args.steps)
                if name == "original"
                else i2i_cmd(Path("<data>"), Path("<run>"), args.steps)
            )
            .replace(str(original), "<original>")
            .replace(sys.executable, "python"),
            "wall": q(_median(long, "wall_s"), "s (median)"),
            "wall_runs": q([round(r["wall_s"], 2) for r in long], "s"),
            "peak_rss_largest_process": q(_median(long, "maxrss_mib"), "MiB (median of ru_maxrss)"),
            "peak_pss_process_tree": q(
                _median(long, "tree_pss_peak_mib"), f"MiB (median, sampled every {SAMPLE_S} s)"
            ),
        }
        if len(lengths) > 1:
            short = by_len[lengths[1]]
            per_step = (_median(long, "wall_s") - _median(short, "wall_s")) / (args.steps - lengths[1])
            entry[f"wall_{lengths[1]}_steps"] = q(_median(short, "wall_s"), "s (median)")
            entry["per_step"] = q(per_step, "s/step (from the two lengths)")
            entry["fixed_cost"] = q(
                _median(long, "wall_s") - args.steps * per_step, "s (wall - steps x per step)"
            )
        programs[name] = entry
    if settings:
        programs["i2i"]["resolved"] = settings
    programs["i2i_first_run"] = {
        "what": "the first i2i run, before precision auto's answer is cached (one run)",
        "wall": q(first["wall_s"], "s"),
        "peak_rss_largest_process": q(first["maxrss_mib"], "MiB"),
        "peak_pss_process_tree": q(first["tree_pss_peak_mib"], "MiB"),
    }
    o, i = programs["original"], programs["i2i"]
    ratios = {
        "wall_original_over_i2i": q(o["wall"]["value"] / i["wall"]["value"], "x (above 1: i2i faster)"),
        "peak_rss_original_over_i2i": q(
            o["peak_rss_largest_process"]["value"] / i["peak_rss_largest_process"]["value"],
            "x (above 1: i2i smaller)",
        ),
        "peak_pss_tree_original_over_i2i": q(
            o["peak_pss_process_tree"]["value"] / i["peak_pss_process_tree"]["value"],
            "x (above 1: i2i smaller)",
        ),
    }
    if "per_step" in o:
        ratios["per_step_original_over_i2i"] = q(o["per_step"]["value"] / i["per_step"]["value"], "x")
    doc = {
        "benchmark": "whole-process pix2pix training: original train.py vs i2i-train",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            **_machine(),
            "load_average_at_start": load_start,
            "load_average_at_end": list(os.getloadavg()),
        },
        "setup": {
            "model": "pix2pix unet_256 (ngf 64, batch norm, dropout) + 70x70 PatchGAN (ndf 64), 256x256, batch 1",
            "data": "i2i_img2img.demo.write_demo(n=64, seed=0, size=256): aligned A|B facades, 50 in train/",
            "steps": args.steps,
            "lengths": lengths,
            "reps": args.reps,
            "order": "interleaved: for each rep and length, original then i2i",
            "original_commit": "c3268edd50ec37a81600c9b981841f48929671b8 (tested)",
        },
        "programs": programs,
        "ratios": ratios,
        "runtime": q(round(time.perf_counter() - started, 1), "s"),
    }
    text = json.dumps(doc, indent=2)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text + "\n")
    log(f"wrote {out_path}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
