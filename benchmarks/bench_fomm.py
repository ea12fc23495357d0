#!/usr/bin/env python
"""first-order-model animation speed: the original code against i2i on the same weights and frames.

    python benchmarks/bench_fomm.py --original /tmp/anchors/fomm [--frames 32] [--size 256] [--reps 3]

(`--original` defaults to $FOMM_ORIGINAL: a checkout of github.com/AliaksandrSiarohin/first-order-model;
it is patched as tests/fixtures/fomm/make_fixtures.py patches it.) Writes one JSON document to --out
(default benchmarks/results/fomm-vm.json) and prints it.

Weights: the full-size vox-256 networks (the original's own classes from its config/vox-256.yaml,
seeded random weights, BatchNorm statistics perturbed), saved as the original saves them, with the
YAML beside them; i2i imports that file (`load_pipeline(cpk, plugin="face2img")`).

One run = one portrait animated by `--frames` driving frames at `--size` (relative motion, adapted
movement scale: the demo's `--relative --adapt_scale`):
- original: `demo.make_animation(source, driving, generator, kp_detector, relative=True,
  adapt_movement_scale=True, cpu=True)` on the frames already resized (as the demo's main does);
- i2i: `Pipeline.generate` on the prepared frames, `--chunk` frames per call (what `i2i-run
  --batch-size` sets), the frames prepared beforehand by `Pipeline.prepare` (its resize is timed
  apart, as `prepare_s`).
Runs alternate (original, i2i, original, ...) after one warm-up run each, and medians are reported
(the machine is shared): wall time, and the process's CPU time (`time.process_time`), which time
spent waiting for a core shared with other jobs does not inflate; `torch.set_num_threads(--threads)`
for both (one thread by default: on an oversubscribed machine two OpenMP threads wait for each
other). The outputs are compared.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # make_animation's progress bar

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
MAKE_FIXTURES = HERE.parent / "tests" / "fixtures" / "fomm" / "make_fixtures.py"


def _fixture_tools():
    spec = importlib.util.spec_from_file_location("fomm_make_fixtures", MAKE_FIXTURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _frames(size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A portrait and n driving frames (uint8, size x size): crops of scikit-image's astronaut that
    move, turn and zoom over the clip."""
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    portrait = np.asarray(photo.crop((140, 20, 300, 180)).resize((size, size), Image.Resampling.BICUBIC))
    frames = []
    for t in range(n):
        phase = t / max(n - 1, 1)
        left, top, side = 150 + 20 * phase, 30 - 10 * phase, 140 - 12 * phase
        frame = photo.rotate(10 * np.sin(6.28 * phase), center=(220, 100), resample=Image.Resampling.BICUBIC)
        frame = frame.crop((round(left), round(top), round(left + side), round(top + side)))
        frames.append(np.asarray(frame.resize((size, size), Image.Resampling.BICUBIC)))
    return portrait, np.stack(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original", type=Path, default=os.environ.get("FOMM_ORIGINAL"))
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fomm-vm.json")
    args = parser.parse_args()
    if args.original is None:
        raise SystemExit("give --original (a first-order-model checkout) or set FOMM_ORIGINAL")
    torch.set_num_threads(args.threads)
    tools = _fixture_tools()
    checkout = args.original.resolve()
    tools.patch(checkout)
    sys.path.insert(0, str(checkout))
    import demo
    import yaml
    from modules.discriminator import MultiScaleDiscriminator
    from modules.generator import OcclusionAwareGenerator
    from modules.keypoint_detector import KPDetector
    from skimage.transform import resize

    from i2i.keys import VIDEO_FRAME
    from i2i.pipeline import _collate, load_pipeline

    work = Path(tempfile.mkdtemp(prefix="bench-fomm-"))
    try:
        config_path = work / "vox-256.yaml"
        shutil.copy(checkout / "config" / "vox-256.yaml", config_path)
        params = yaml.safe_load(config_path.read_text())["model_params"]
        common = params["common_params"]
        torch.manual_seed(0)
        nets = {
            "generator": OcclusionAwareGenerator(**params["generator_params"], **common),
            "kp_detector": KPDetector(**params["kp_detector_params"], **common),
            "discriminator": MultiScaleDiscriminator(**params["discriminator_params"], **common),
        }
        tools.randomize(torch, list(nets.values()), seed=2)
        checkpoint = work / "vox-cpk.pth.tar"
        torch.save({**{k: v.state_dict() for k, v in nets.items()}, "epoch": 0}, checkpoint)
        del nets

        portrait, frames = _frames(args.size, args.frames)
        source_image = resize(portrait, (args.size, args.size))[..., :3]
        driving_video = [resize(f, (args.size, args.size))[..., :3] for f in frames]
        generator, kp_detector = demo.load_checkpoints(str(config_path), str(checkpoint), cpu=True)

        pipe = load_pipeline(checkpoint, plugin="face2img", device="cpu")
        to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 127.5 - 1  # noqa: E731
        t0 = time.perf_counter()
        state = pipe.new_state()
        samples = [
            pipe.prepare(
                {"portrait": [to_tensor(portrait)], "driving": to_tensor(f), VIDEO_FRAME: True}, state
            )
            for f in frames
        ]
        prepare_s = time.perf_counter() - t0

        def original() -> np.ndarray:
            out = demo.make_animation(source_image, driving_video, generator, kp_detector, relative=True,
                                      adapt_movement_scale=True, cpu=True)  # fmt: skip
            return np.stack(out)

        def ours() -> np.ndarray:
            outs = [
                pipe.generate(_collate(samples[i : i + args.chunk]))
                for i in range(0, len(samples), args.chunk)
            ]
            return ((torch.cat(outs) + 1) / 2).permute(0, 2, 3, 1).numpy()

        expected, got = original(), ours()  # warm-up runs, and the comparison
        diff = float(np.abs(expected - got).max())
        times: dict[str, list[float]] = {"original": [], "i2i": []}
        cpu: dict[str, list[float]] = {"original": [], "i2i": []}
        for _ in range(args.reps):
            for name, fn in (("original", original), ("i2i", ours)):
                t, c = time.perf_counter(), time.process_time()
                fn()
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result = {
        "benchmark": "first-order-model animation (vox-256, relative + adapt scale)",
        "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "load_average": list(os.getloadavg()),
        },
        "torch": torch.__version__,
        "frames": args.frames,
        "size": args.size,
        "i2i_chunk": args.chunk,
        "reps": args.reps,
        "original_s": times["original"],
        "i2i_s": times["i2i"],
        "original_median_s": med["original"],
        "i2i_median_s": med["i2i"],
        "ratio_original_over_i2i": med["original"] / med["i2i"],
        "ms_per_frame": {k: 1000 * v / args.frames for k, v in med.items()},
        "original_cpu_s": cpu["original"],
        "i2i_cpu_s": cpu["i2i"],
        "cpu_ratio_original_over_i2i": med_cpu["original"] / med_cpu["i2i"],
        "i2i_prepare_s": prepare_s,
        "max_abs_diff_0_1": diff,
        "precision": "fp32 (both)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
