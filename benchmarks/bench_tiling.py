#!/usr/bin/env python
"""Tiled against untiled x4 super-resolution: time and peak memory of whole `i2i-run` processes.

    python benchmarks/bench_tiling.py [--sizes 1080p 4k 8k] [--threads 1] [--out FILE]

Each run is `i2i-run --plugin img2img --input IN.png --out OUT.png` (the shipped x4 model) in a
fresh subprocess, its peak RSS read from the kernel for that process alone (`os.wait4`'s
ru_maxrss, through `fresh_process.py`'s launcher) and its wall and CPU time measured; "untiled"
adds `--tile 0`, "tiled" is the default (tiles chosen from the default memory budget). Inputs
are a real photo (scikit-image's `motorcycle_left`, cropped to 16:9) resized to a quarter of the
output: 480x270 for 1080p, 960x540 for 4K, 1920x1080 for 8K (7680x4320; tiled only: untiled it
would need about four times the 4K figure). Both outputs of a size are compared pixel by pixel
(8-bit levels).

The machine is shared: the load average before and after every run is in the JSON, and CPU time
beside wall time. Writes benchmarks/results/tiling-<host>.json after every run (with "complete":
false until the last).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import socket
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fresh_process import run_measured  # noqa: E402

SIZES = {"1080p": (480, 270), "4k": (960, 540), "8k": (1920, 1080)}
TARGET_RSS = 2 << 30  # 3840x2160 output in under 2 GB


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def make_input(path: Path, size: tuple[int, int]) -> None:
    import skimage
    from PIL import Image

    photo = Image.open(Path(skimage.__file__).parent / "data" / "motorcycle_left.png").convert("RGB")
    w, h = photo.size
    ch = w * 9 // 16
    top = (h - ch) // 2
    photo.crop((0, top, w, top + ch)).resize(size, Image.LANCZOS).save(path)


def run_cli(args: list[str], threads: int) -> dict:
    """One i2i-run in a fresh process: wall, user+system CPU, peak RSS of that process alone."""
    exe = Path(sys.executable).with_name("i2i-run")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return run_measured([str(exe), *args], env)


def plan_info(path: Path) -> dict:
    """The tile grid the default settings choose for this input (computed here, as i2i-run does)."""
    import torch

    from i2i.data.images import image_to_tensor, read_image
    from i2i.pipeline import load_pipeline
    from i2i.tiling import default_budget, plan

    pipe = load_pipeline("img2img", device="cpu")
    batch = {"input": image_to_tensor(read_image(path))[None]}
    with torch.no_grad():
        cond = pipe.conditioner(batch)
        tiles = plan(lambda c, z: pipe.generator(c, z).float(), pipe.generator, cond, None)
    info = {"budget_mib": round(default_budget() / 2**20)}
    if tiles is not None:
        info.update(
            tiles=f"{len(tiles.rows.starts)} x {len(tiles.cols.starts)}",
            tile_input_px=f"{tiles.rows.size} x {tiles.cols.size}",
            margin_px=tiles.margin,
            ramp_px=tiles.ramp,
            exact=tiles.exact,
            work_vs_untiled=round(
                tiles.count * tiles.rows.size * tiles.cols.size / (tiles.rows.length * tiles.cols.length), 3
            ),
        )
    return info


def compare(a: Path, b: Path) -> dict:
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(a), dtype=np.int16)
    y = np.asarray(Image.open(b), dtype=np.int16)
    d = np.abs(x - y)
    return {
        "max_level_diff": int(d.max()),
        "pixels_differing": int((d.max(axis=2) > 0).sum()),
        "size": list(x.shape),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["1080p", "4k", "8k"], choices=list(SIZES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / f"tiling-{socket.gethostname()}.json")
    args = ap.parse_args()
    import torch

    result: dict = {
        "benchmark": "bench_tiling",
        "what": "i2i-run --plugin img2img (shipped x4 model), untiled (--tile 0) vs tiled (default), "
        "whole processes, one fresh subprocess per run",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "target": "3840x2160 output in under 2 GiB peak RSS",
        "runs": {},
        "complete": False,
    }

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for name in args.sizes:
            w, h = SIZES[name]
            src = tmpdir / f"in-{name}.png"
            make_input(src, (w, h))
            entry: dict = {"input": f"{w}x{h}", "output": f"{4 * w}x{4 * h}", "plan": plan_info(src)}
            result["runs"][name] = entry
            modes = ["tiled"] if name == "8k" else ["untiled", "tiled"]
            for mode in modes:
                out = tmpdir / f"out-{name}-{mode}.png"
                flags = ["--tile", "0"] if mode == "untiled" else []
                print(f"{name} {mode} ...", file=sys.stderr, flush=True)
                entry[mode] = run_cli(
                    ["--plugin", "img2img", "--input", str(src), "--out", str(out), *flags], args.threads
                )
                print(
                    f"  {entry[mode]['wall_s']} s, {entry[mode]['peak_rss_mib']} MiB",
                    file=sys.stderr,
                    flush=True,
                )
                save()
            if "untiled" in entry and entry["untiled"]["exit"] == 0 and entry["tiled"]["exit"] == 0:
                entry["tiled_vs_untiled"] = {
                    "wall": round(entry["tiled"]["wall_s"] / entry["untiled"]["wall_s"], 3),
                    "cpu": round(entry["tiled"]["cpu_s"] / entry["untiled"]["cpu_s"], 3),
                    "peak_rss": round(entry["tiled"]["peak_rss_mib"] / entry["untiled"]["peak_rss_mib"], 3),
                }
                entry["outputs"] = compare(
                    tmpdir / f"out-{name}-untiled.png", tmpdir / f"out-{name}-tiled.png"
                )
            if name == "4k":
                entry["target_met"] = (
                    entry["tiled"]["exit"] == 0 and entry["tiled"]["peak_rss_mib"] * 2**20 < TARGET_RSS
                )
            save()
    result["complete"] = True
    save()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
