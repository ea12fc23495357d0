#!/usr/bin/env python
"""SPADE inference speed: the original NVlabs/SPADE code vs i2i on the same weights and label map.

    python benchmarks/bench_spade.py --original /tmp/anchors/SPADE [--size 256] [--reps 5]

`--original` (or $SPADE_ORIGINAL) is a checkout of github.com/NVlabs/SPADE with
Synchronized-BatchNorm-PyTorch's sync_batchnorm in models/networks/; it is patched to run on the
CPU exactly as tests/fixtures/spade/make_fixtures.py patches it (SPADE's hidden width stays 128).
The model is the original's full-width generator for a Cityscapes-like label map: ``--ngf 64
--label_nc 35`` + the instance-edge channel, ``--norm_G spectralspadesyncbatch3x3``,
``--num_upsampling_layers normal``, ``--crop_size`` = --size, aspect ratio 1 (93.0 M parameters),
seeded random weights (make_fixtures' `randomize`), saved by the original's
``Pix2PixModel.save``; i2i imports that file with ``load_pipeline(..., plugin="seg2img")``.

Timed, one image per call, after one warm-up call each, interleaved (original, i2i, original,
i2i, ...) because the machine is shared, medians reported (wall and process CPU seconds):

- ``original``: ``Pix2PixModel(data, mode='inference')`` as test.py calls it (one-hot scatter,
  get_edges, netG, under its own ``torch.no_grad()``) on the data its loader gives;
- ``i2i``: ``Pipeline.generate`` on the batch ``Pipeline.prepare`` makes from the same label and
  instance files (what i2i-run runs: semantic input, generator, clamp);

plus the max abs difference of i2i's output to the original's. Writes
benchmarks/results/spade-vm.json (or --out) and prints the same JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib.util
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from side_by_side import interleaved  # benchmarks/ is on sys.path when a script runs

HERE = Path(__file__).resolve().parent
FIXTURE_SCRIPT = HERE.parent / "tests" / "fixtures" / "spade" / "make_fixtures.py"
LABEL_NC = 35


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _fixture_tools() -> Any:
    spec = importlib.util.spec_from_file_location("spade_make_fixtures", FIXTURE_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scene(files: Path, size: int, seed: int = 0) -> None:
    """Blocky Cityscapes-like label ids 0..34 with 16-bit instance ids (class * 1000 + k), a photo."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, LABEL_NC, (max(1, size // 16), max(1, size // 16)))
    labels = np.kron(coarse, np.ones((16, 16), np.int64))[:size, :size]
    k = np.arange(labels.size).reshape(labels.shape) // (16 * 16 * 3)
    instances = np.where(labels >= 24, labels * 1000 + k % 1000, labels)
    for folder in ("label", "inst", "img"):
        (files / folder).mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint8)).save(files / "label" / "scene.png")
    Image.fromarray(instances.astype(np.uint16)).save(files / "inst" / "scene.png")
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(files / "img" / "scene.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--original", default=os.environ.get("SPADE_ORIGINAL"), help="NVlabs/SPADE checkout")
    p.add_argument("--size", type=int, default=256, help="crop_size: the square label map's side")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", type=Path, default=HERE / "results" / "spade-vm.json")
    args = p.parse_args()
    if not args.original:
        p.error("give --original PATH (or set SPADE_ORIGINAL) to a NVlabs/SPADE checkout")
    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)
    options = [
        *("--label_nc", str(LABEL_NC), "--ngf", "64", "--norm_G", "spectralspadesyncbatch3x3"),
        *("--num_upsampling_layers", "normal", "--crop_size", str(args.size), "--load_size", str(args.size)),
        *("--preprocess_mode", "fixed"),
    ]

    tools = _fixture_tools()
    here = Path.cwd()
    tools.prepare(Path(args.original).resolve())
    os.environ.pop("SPADE_NHIDDEN", None)  # the original's 128
    work = Path(tempfile.mkdtemp(prefix="bench-spade-"))
    name = "bench"
    _scene(work / "data", args.size)
    with contextlib.redirect_stdout(sys.stderr):  # the original prints its options and networks
        checkpoint = tools.write_checkpoint(work, name, options, seed=0) / "latest_net_G.pth"
        model, loader, _ = tools.test_model(work, name, options)
    os.chdir(here)
    data = next(iter(loader))

    from i2i.data.images import read_labels
    from i2i.pipeline import load_pipeline

    pipe = load_pipeline(checkpoint, plugin="seg2img", device="cpu")
    raw = {
        "labels": read_labels(work / "data" / "label" / "scene.png"),
        "instances": read_labels(work / "data" / "inst" / "scene.png"),
    }
    batch = {k: v[None] for k, v in pipe.prepare(raw).items()}

    def original() -> torch.Tensor:
        return model(tools._clone(data), mode="inference")

    def i2i() -> torch.Tensor:
        return pipe.generate(batch)

    variants = {"original": original, "i2i": i2i}
    outputs = {k: fn() for k, fn in variants.items()}  # warm-up
    diff = float((outputs["i2i"] - outputs["original"].clamp(-1, 1)).abs().max())
    log(f"warm-up done; max abs diff to the original: {diff:.3g}")
    timings = interleaved(variants, args.reps, log)
    medians, cpu_medians = timings["median_wall_seconds"], timings["median_cpu_seconds"]
    result = {
        "benchmark": "spade inference, one image",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": {
            "cpu_cores_used": cores,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "loadavg_at_end": list(os.getloadavg()),
        },
        "model": f"SPADE {' '.join(options)}, + instance edges "
        f"({sum(p.numel() for p in pipe.generator.parameters())} parameters), seeded random weights",
        "input_hw": [args.size, args.size],
        "reps": args.reps,
        "order": "interleaved: " + ", ".join(variants),
        **timings,
        "ratio_original_over_i2i": medians["original"] / medians["i2i"],
        "cpu_ratio_original_over_i2i": cpu_medians["original"] / cpu_medians["i2i"],
        "max_abs_diff_to_original": diff,
    }
    text = json.dumps(result, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
