#!/usr/bin/env python
"""pix2pixHD inference speed: NVIDIA's original code vs i2i on the same weights and label map.

    python benchmarks/bench_pix2pixhd.py --original /tmp/anchors/pix2pixHD [--size 256x512] [--reps 5]

`--original` (or $PIX2PIXHD_ORIGINAL) is a checkout of github.com/NVIDIA/pix2pixHD; it is patched
to run on the CPU exactly as tests/fixtures/pix2pixhd/make_fixtures.py patches it. The model is a
full-size Cityscapes generator (``--model 512p``: ``--netG global --ngf 64 --n_downsample_global 4
--n_blocks_global 9``, 182.5 M parameters; ``1024p``: the published ``--netG local --ngf 32``,
182.9 M), instance norm, 35 label classes + the instance-edge channel, seeded random weights,
saved by the original's save_network with its opt.txt (``--no-opt-txt`` removes it before i2i
imports the file, as the published checkpoint comes); i2i imports it with
`load_pipeline(..., plugin="seg2img")`. The label map is synthetic (``--size``) or a PNG
(``--labels``, ``--instances``, e.g. the checkout's datasets/cityscapes samples).

    python benchmarks/bench_pix2pixhd.py --original /tmp/anchors/pix2pixHD --model 1024p --no-opt-txt \
        --labels /tmp/anchors/pix2pixHD/datasets/cityscapes/test_label/frankfurt_000000_000576_gtFine_labelIds.png \
        --instances /tmp/anchors/pix2pixHD/datasets/cityscapes/test_inst/frankfurt_000000_000576_gtFine_instanceIds.png \
        --reps 1 --out benchmarks/results/pix2pixhd-1024p-cityscapes-vm.json

Timed, one image (H x W from --size) per call, after one warm-up call each, interleaved
(original, i2i, original, i2i, ...) because the machine is shared, medians reported:

- ``original``: `Pix2PixHDModel.inference` as test.py calls it (one-hot scatter, get_edges,
  netG; on PyTorch >= 1.0 with autograd on, since its `no_grad` is only for 0.4);
- ``original_no_grad``: the same call under `torch.no_grad()`, the fairest original;
- ``i2i``: `Pipeline.generate` (what i2i-run runs: conditioner + generator, no_grad, clamp);

plus the max abs difference of i2i's output to the original's, wall and CPU (process) times. Writes
benchmarks/results/pix2pixhd-vm.json (or --out) and prints the same JSON.
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
FIXTURE_SCRIPT = HERE.parent / "tests" / "fixtures" / "pix2pixhd" / "make_fixtures.py"
MODELS = {  # the two Cityscapes models of pix2pixHD's scripts/
    "512p": "--netG global --ngf 64 --n_downsample_global 4 --n_blocks_global 9",
    "1024p": "--netG local --ngf 32 --n_downsample_global 4 --n_blocks_global 9 --n_local_enhancers 1"
    " --n_blocks_local 3",
}
LABEL_NC = 35


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _fixture_tools() -> Any:
    spec = importlib.util.spec_from_file_location("pix2pixhd_make_fixtures", FIXTURE_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scene(size: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Blocky Cityscapes-like label ids 0..34 with 16-bit instance ids (class * 1000 + k)."""
    rng = np.random.default_rng(seed)
    h, w = size
    coarse = rng.integers(0, LABEL_NC, (max(1, h // 32), max(1, w // 32)))
    labels = np.kron(coarse, np.ones((32, 32), np.int64))[:h, :w]
    k = np.arange(labels.size).reshape(labels.shape) // (32 * 32 * 3)
    instances = np.where(labels >= 24, labels * 1000 + k % 1000, labels)
    return labels.astype(np.uint8), instances.astype(np.uint16)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--original", default=os.environ.get("PIX2PIXHD_ORIGINAL"), help="pix2pixHD checkout")
    p.add_argument("--model", choices=sorted(MODELS), default="512p", help="512p: global, 1024p: local")
    p.add_argument("--size", default="256x512", help="H x W of the synthetic label map (512x1024: 512p)")
    p.add_argument(
        "--labels", type=Path, help="a label-id PNG instead (e.g. the checkout's Cityscapes samples)"
    )
    p.add_argument("--instances", type=Path, help="its instance-id PNG (with --labels)")
    p.add_argument(
        "--no-opt-txt",
        action="store_true",
        help="delete opt.txt before i2i imports the file (as the published checkpoint comes)",
    )
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", type=Path, default=HERE / "results" / "pix2pixhd-vm.json")
    args = p.parse_args()
    if not args.original:
        p.error("give --original PATH (or set PIX2PIXHD_ORIGINAL) to a NVIDIA/pix2pixHD checkout")
    size = tuple(int(v) for v in args.size.lower().split("x"))
    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)

    tools = _fixture_tools()
    tools.prepare(Path(args.original).resolve())
    work = Path(tempfile.mkdtemp(prefix="bench-pix2pixhd-"))
    name, options = f"bench{args.model}", MODELS[args.model]
    if args.labels:
        labels = np.array(Image.open(args.labels))
        instances = np.array(Image.open(args.instances)) if args.instances else labels.astype(np.uint16)
        size = labels.shape
    else:
        labels, instances = _scene(size)  # type: ignore[arg-type]
    with contextlib.redirect_stdout(sys.stderr):  # the original prints its options and networks
        tools.write_checkpoint(work, name, options, seed=0, label_nc=LABEL_NC)
        tools.write_scene(work, labels, instances)
        model, data = tools.original_test_model(work, name, options, label_nc=LABEL_NC)
    if args.no_opt_txt:
        (work / "checkpoints" / name / "opt.txt").unlink()

    from i2i.data.images import read_labels
    from i2i.pipeline import load_pipeline

    checkpoint = work / "checkpoints" / name / "latest_net_G.pth"
    pipe = load_pipeline(checkpoint, plugin="seg2img", device="cpu")
    raw = {
        "labels": read_labels(work / "data" / "test_label" / "scene.png"),
        "instances": read_labels(work / "data" / "test_inst" / "scene.png"),
    }
    batch = {k: v[None] for k, v in pipe.prepare(raw).items()}

    def original() -> torch.Tensor:
        return model.inference(data["label"], data["inst"], data["image"]).detach()

    def original_no_grad() -> torch.Tensor:
        with torch.no_grad():
            return model.inference(data["label"], data["inst"], data["image"])

    def i2i() -> torch.Tensor:
        return pipe.generate(batch)

    variants = {"original": original, "original_no_grad": original_no_grad, "i2i": i2i}
    outputs = {k: fn() for k, fn in variants.items()}  # warm-up
    reference = outputs["original"].clamp(-1, 1)
    diffs = {k: float((v - reference).abs().max()) for k, v in outputs.items() if k.startswith("i2i")}
    log(f"warm-up done; max abs diff to the original: {diffs}")
    timings = interleaved(variants, args.reps, log)
    medians, cpu_medians = timings["median_wall_seconds"], timings["median_cpu_seconds"]
    result = {
        "benchmark": "pix2pixhd inference, one image",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": {
            "cpu_cores_used": cores,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "loadavg_at_end": list(os.getloadavg()),
        },
        "model": f"pix2pixHD {options} --norm instance, label_nc {LABEL_NC} + instance edges "
        f"({sum(p.numel() for p in pipe.generator.parameters())} parameters), seeded random weights",
        "input_hw": list(size),
        "input": str(args.labels) if args.labels else "synthetic blocks",
        "opt_txt_beside_checkpoint": not args.no_opt_txt,
        "reps": args.reps,
        "order": "interleaved: " + ", ".join(variants),
        **timings,
        "ratio_original_over_i2i": medians["original"] / medians["i2i"],
        "ratio_original_no_grad_over_i2i": medians["original_no_grad"] / medians["i2i"],
        "cpu_ratio_original_over_i2i": cpu_medians["original"] / cpu_medians["i2i"],
        "cpu_ratio_original_no_grad_over_i2i": cpu_medians["original_no_grad"] / cpu_medians["i2i"],
        "max_abs_diff_to_original": diffs,
    }
    text = json.dumps(result, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
