#!/usr/bin/env python
"""Real-ESRGAN x4 upscaling, whole process: the original inference code against `i2i-run`, same weights.

    python benchmarks/bench_esrgan.py --realesrgan /tmp/anchors/xinntao+Real-ESRGAN \
        --basicsr /tmp/anchors/XPixelGroup+BasicSR [--size 512] [--repeats 2] [--out FILE]

(`--realesrgan` / `--basicsr` default to $REALESRGAN_ORIGINAL / $BASICSR_ORIGINAL: extracted
checkouts, never committed; they need opencv-python(-headless).) Writes
benchmarks/results/esrgan-vm.json by default, after every run (a run cut short still leaves its
numbers, with "complete": false).

Weights: the FULL-size RealESRGAN_x4plus network, BasicSR's own RRDBNet(3, 3, scale 4, nf 64, nb 23,
gc 32; 16,697,987 parameters) with seeded random weights (N(0, 1)/sqrt(fan_in), last bias +0.5),
saved as Real-ESRGAN publishes it: {"params_ema": state_dict}. Input: the top-left `--size` square
of scikit-image's `astronaut` photo as a PNG -> the x4 PNG.

Each run is a fresh process (benchmarks/fresh_process.py: wall, CPU and peak RSS of that process
alone), from a PNG on disk to a PNG on disk, as its users run it:
- original: what `inference_realesrgan.py -n RealESRGAN_x4plus --fp32` does (cv2.imread,
  `RealESRGANer(scale=4, model=RRDBNet(...), tile=0, pre_pad=0, half=False).enhance(img,
  outscale=4)`, cv2.imwrite) in a driver (`--driver`, this file) that imports BasicSR's RRDBNet and
  Real-ESRGAN's RealESRGANer without their package __init__ files (which import every architecture,
  the compiled DCN op and the training code); no source line of theirs is changed;
- i2i: `i2i-run --plugin img2img --checkpoint RealESRGAN_x4plus.pth --input photo.png --out x4.png`
  with its defaults (the ESRGAN importer; fp32 channels_last; banded tail; malloc keeping freed
  memory, i2i.allocator).
Also reported, not part of the ratio, to show where i2i's lead comes from:
- i2i_system_malloc: the same command with I2I_MALLOC=system (glibc's default malloc);
- original_kept_memory: the original driver under the malloc settings i2i uses
  (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_ at its maximum, as environment variables).
Runs alternate in that order each repeat, so load from other work hits all alike; medians are
reported. Outputs are compared as the PNGs both programs write (8-bit), and once in float: the
original's float output (saved by the driver before its uint8 conversion) against i2i's
`Pipeline.generate` in this process, on [0, 1]; the parity tolerance is 1e-4.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import socket
import statistics
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fresh_process import run_measured  # noqa: E402

KEPT_MEMORY = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}


def _stub(name: str, path: Path | None = None, **attrs: object) -> None:
    module = types.ModuleType(name)
    if path is not None:
        module.__path__ = [str(path)]
    module.__dict__.update(attrs)
    sys.modules[name] = module


def import_original(realesrgan: Path, basicsr: Path) -> tuple[type, type]:
    """BasicSR's RRDBNet and Real-ESRGAN's RealESRGANer without their package __init__ files."""
    import torch

    _stub("basicsr", basicsr / "basicsr")
    _stub(
        "basicsr.utils", basicsr / "basicsr" / "utils", get_root_logger=lambda *a, **k: logging.getLogger("b")
    )
    _stub("basicsr.utils.download_util", load_file_from_url=None)
    _stub("basicsr.ops", basicsr / "basicsr" / "ops")
    _stub("basicsr.ops.dcn", ModulatedDeformConvPack=torch.nn.Module, modulated_deform_conv=None)
    _stub("basicsr.archs", basicsr / "basicsr" / "archs")
    _stub("realesrgan", realesrgan / "realesrgan")
    from basicsr.archs.rrdbnet_arch import RRDBNet
    from realesrgan.utils import RealESRGANer

    return RRDBNet, RealESRGANer


def _original_net(rrdbnet: type):
    return rrdbnet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, scale=4)


def driver(
    realesrgan: Path, basicsr: Path, weights: Path, photo: Path, out: Path, floats: Path | None
) -> None:
    """The original's inference, as inference_realesrgan.py runs it on the CPU in fp32."""
    import cv2
    import torch

    rrdbnet, upsampler_cls = import_original(realesrgan, basicsr)
    upsampler = upsampler_cls(
        4,
        str(weights),
        model=_original_net(rrdbnet),
        tile=0,
        pre_pad=0,
        half=False,
        device=torch.device("cpu"),
    )
    if floats is not None:  # keep the float output before RealESRGANer converts it to uint8
        post = upsampler.post_process

        def keep() -> torch.Tensor:
            result = post()
            np.save(floats, result[0].float().clamp(0, 1).numpy())
            return result

        upsampler.post_process = keep
    img = cv2.imread(str(photo), cv2.IMREAD_UNCHANGED)
    output, _ = upsampler.enhance(img, outscale=4)
    cv2.imwrite(str(out), output)


def seeded_weights(net, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / fan_in**0.5 if p.dim() > 1 else 0.05))
        net.conv_last.bias.add_(0.5)
    return net.state_dict()


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(np.int16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realesrgan", type=Path, default=os.environ.get("REALESRGAN_ORIGINAL"))
    ap.add_argument("--basicsr", type=Path, default=os.environ.get("BASICSR_ORIGINAL"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "esrgan-vm.json")
    ap.add_argument(
        "--driver", nargs=5, metavar=("WEIGHTS", "PHOTO", "OUT", "FLOATS", "_"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.realesrgan is None or args.basicsr is None:
        ap.error("give --realesrgan and --basicsr (or $REALESRGAN_ORIGINAL / $BASICSR_ORIGINAL)")
    if args.driver:
        weights, photo, out, floats, _ = args.driver
        driver(
            args.realesrgan,
            args.basicsr,
            Path(weights),
            Path(photo),
            Path(out),
            Path(floats) if floats != "-" else None,
        )
        return

    import torch
    from PIL import Image
    from skimage import data

    rrdbnet, _ = import_original(args.realesrgan, args.basicsr)
    net = _original_net(rrdbnet)
    work = Path(tempfile.mkdtemp(prefix="bench-esrgan-"))
    weights = work / "RealESRGAN_x4plus.pth"
    torch.save({"params_ema": seeded_weights(net)}, weights)
    photo = work / "photo.png"
    Image.fromarray(np.ascontiguousarray(data.astronaut()[: args.size, : args.size])).save(photo)
    here = [sys.executable, str(Path(__file__).resolve()), "--realesrgan", str(args.realesrgan), "--basicsr", str(args.basicsr)]  # fmt: skip
    bin_dir = Path(sys.executable).parent

    def original(name: str, floats: str = "-") -> list[str]:
        return [*here, "--driver", str(weights), str(photo), str(work / f"{name}.png"), floats, "x"]

    def i2i(name: str) -> list[str]:
        return [str(bin_dir / "i2i-run"), "--plugin", "img2img", "--checkpoint", str(weights), "--input",
                str(photo), "--out", str(work / f"{name}.png"), "--quiet"]  # fmt: skip

    env = dict(os.environ)
    env.pop("I2I_MALLOC", None)
    variants = {
        "original": (original("original", str(work / "original.npy")), env),
        "i2i": (i2i("i2i"), env),
        "i2i_system_malloc": (i2i("i2i_system_malloc"), {**env, "I2I_MALLOC": "system"}),
        "original_kept_memory": (original("original_kept_memory"), {**env, **KEPT_MEMORY}),
    }
    record: dict = {
        "benchmark": "Real-ESRGAN x4plus (full-size RRDBNet, random weights), one photo, CPU fp32, whole process",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu": platform.processor() or platform.machine(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "input": f"{args.size}x{args.size} PNG -> {4 * args.size}x{4 * args.size} PNG",
        "parameters": sum(p.numel() for p in net.parameters()),
        "runs": {k: [] for k in variants},
    }
    for rep in range(args.repeats):
        for name, (cmd, run_env) in variants.items():
            result = run_measured(cmd, env=run_env)
            if result["exit"] != 0:
                raise SystemExit(f"{name} failed: {result['stderr']}")
            record["runs"][name].append(result)
            print(
                f"repeat {rep}: {name} {result['wall_s']:.1f} s, {result['peak_rss_mib']:.0f} MiB", flush=True
            )
            _summarise(record, work, complete=False)
            _write(args.out, record)
    record["float_check"] = _float_check(weights, photo, work / "original.npy")
    _summarise(record, work, complete=True)
    _write(args.out, record)
    print(args.out.read_text())


def _float_check(weights: Path, photo: Path, original: Path) -> dict:
    """i2i's Pipeline.generate in this process against the original's float output, on [0, 1]."""
    from i2i.allocator import keep_freed_memory
    from i2i.pipeline import load_pipeline, read_input

    keep_freed_memory()
    pipe = load_pipeline(weights, plugin="img2img", device="cpu")
    out = pipe.generate({"input": read_input("image", photo)[None]})[0].add(1).div(2).numpy()
    ref = np.load(original)
    diff = np.abs(out - ref)
    return {"max_abs_diff_0_1": float(diff.max()), "mean_abs_diff_0_1": float(diff.mean()), "tolerance": 1e-4}


def _summarise(record: dict, work: Path, complete: bool) -> None:
    runs = {k: v for k, v in record["runs"].items() if v}
    med = {
        k: {m: statistics.median(r[m] for r in v) for m in ("wall_s", "cpu_s", "peak_rss_mib")}
        for k, v in runs.items()
    }
    record["median"] = med
    if "original" in med and "i2i" in med:
        o, i = med["original"], med["i2i"]
        record["ratio_original_over_i2i"] = round(o["wall_s"] / i["wall_s"], 2)
        record["cpu_ratio_original_over_i2i"] = round(o["cpu_s"] / i["cpu_s"], 2)
        record["peak_rss_original_over_i2i"] = round(o["peak_rss_mib"] / i["peak_rss_mib"], 2)
    if "original_kept_memory" in med and "i2i" in med:
        record["ratio_original_kept_memory_over_i2i"] = round(
            med["original_kept_memory"]["wall_s"] / med["i2i"]["wall_s"], 2
        )
    if "i2i_system_malloc" in med and "original" in med:
        record["ratio_original_over_i2i_system_malloc"] = round(
            med["original"]["wall_s"] / med["i2i_system_malloc"]["wall_s"], 2
        )
    if (work / "original.png").exists():
        ref = _png(work / "original.png")
        record["png_vs_original"] = {
            name: {"uint8_max_diff": int(np.abs(_png(work / f"{name}.png") - ref).max()),
                   "uint8_equal_fraction": float((_png(work / f"{name}.png") == ref).mean())}
            for name in runs if name != "original" and (work / f"{name}.png").exists()
        }  # fmt: skip
    record["complete"] = complete


def _write(out: Path, record: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
