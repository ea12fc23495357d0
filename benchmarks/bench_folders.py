#!/usr/bin/env python
"""Folder runs in flat memory: peak RSS of `i2i-run --input DIR` at 50 and 500 images.

    python benchmarks/bench_folders.py [--counts 50 500] [--size 256] [--threads 1] [--out FILE]

Each run is one fresh subprocess, its peak RSS read from the kernel for that process alone
(`os.wait4`'s ru_maxrss, through `fresh_process.py`'s launcher):
- streaming: `i2i-run --checkpoint TINY --input DIR --out OUT --quiet`, the command as it is
  (headers checked up front, one batch decoded at a time);
- eager: the order of the previous implementation, re-enacted by this script in a child process:
  every image decoded (`i2i.pipeline.read_input`) and kept before the first is generated, then
  the same folder run.

Images: `--size` x `--size` crops of scikit-image's photos (chelsea, coffee, astronaut, rocket,
motorcycle), a different crop each. Model: an untrained img2img U-Net (5 levels, ngf 8), so the
time goes to reading, decoding and writing, and memory, not speed, is what is measured. The load
average before and after every run is in the JSON (the machine is shared). Writes
benchmarks/results/folders-<host>.json.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fresh_process import run_measured  # noqa: E402

PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png")

EAGER = """
import sys
from pathlib import Path
from i2i.data.images import list_images
from i2i.pipeline import load_pipeline, read_input, run_files
model, folder, out = sys.argv[1:4]
held = [read_input("image", p) for p in list_images(folder)]  # the old order: all decoded first
pipe = load_pipeline(model, device="cpu")
run_files(pipe, {"input": folder}, out, progress=False)
print(len(held))
"""


def write_images(folder: Path, count: int, size: int) -> None:
    import numpy as np
    import skimage
    from PIL import Image

    photos = [
        np.asarray(Image.open(Path(skimage.__file__).parent / "data" / n).convert("RGB")) for n in PHOTOS
    ]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(size // 2, min(photo.shape[:2]) + 1))
        y = int(rng.integers(0, photo.shape[0] - side + 1))
        x = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(np.ascontiguousarray(photo[y : y + side, x : x + side]))
        crop.resize((size, size), Image.BICUBIC).save(folder / f"img_{i:04d}.png")


def tiny_model(path: Path) -> Path:
    import torch

    from i2i.config import load_config
    from i2i.engine import checkpoint
    from i2i.engine.build import build_conditioner, build_generator
    from i2i.plugins import get_modality

    modality = get_modality("img2img")
    sets = ["model.generator.num_downs=5", "model.generator.ngf=8", "model.discriminator.ndf=8"]
    config = load_config(modality, None, sets)
    torch.manual_seed(0)
    modules = {"generator": build_generator(config), "conditioner": build_conditioner(modality, config)}
    checkpoint.save_model(path, config.to_json(), modules, {"plugin": "img2img"})
    return path


def run(cmd: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return run_measured(cmd, env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / f"folders-{socket.gethostname()}.json")
    args = ap.parse_args()
    import torch

    result: dict = {
        "benchmark": "bench_folders",
        "what": "peak RSS of a folder run against the number of images; streaming = i2i-run as it is, "
        "eager = every image decoded before the first is generated (the previous order, re-enacted)",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "image_size": f"{args.size}x{args.size}",
        "model": "untrained img2img U-Net, 5 levels, ngf 8",
        "runs": {},
        "complete": False,
    }

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        model = tiny_model(tmpdir / "tiny.safetensors")
        exe = str(Path(sys.executable).with_name("i2i-run"))
        for count in args.counts:
            folder = tmpdir / f"in{count}"
            write_images(folder, count, args.size)
            entry: dict = {}
            result["runs"][str(count)] = entry
            for mode in ("streaming", "eager"):
                out = tmpdir / f"out{count}-{mode}"
                if mode == "streaming":
                    cmd = [
                        exe,
                        "--checkpoint",
                        str(model),
                        "--input",
                        str(folder),
                        "--out",
                        str(out),
                        "--quiet",
                    ]
                else:
                    cmd = [sys.executable, "-c", EAGER, str(model), str(folder), str(out)]
                print(f"{count} images, {mode} ...", file=sys.stderr, flush=True)
                entry[mode] = run(cmd, args.threads)
                entry[mode]["written"] = len(list(out.iterdir())) if out.is_dir() else 0
                print(
                    f"  {entry[mode]['wall_s']} s, {entry[mode]['peak_rss_mib']} MiB",
                    file=sys.stderr,
                    flush=True,
                )
                save()
    counts = [str(c) for c in args.counts]
    if len(counts) >= 2:
        lo, hi = result["runs"][counts[0]], result["runs"][counts[-1]]
        result["rss_ratio_most_vs_fewest"] = {
            mode: round(hi[mode]["peak_rss_mib"] / lo[mode]["peak_rss_mib"], 3)
            for mode in ("streaming", "eager")
        }
        result["rss_growth_mib"] = {
            mode: round(hi[mode]["peak_rss_mib"] - lo[mode]["peak_rss_mib"], 1)
            for mode in ("streaming", "eager")
        }
    result["complete"] = True
    save()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
