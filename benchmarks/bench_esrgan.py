#!/usr/bin/env python
"""Real-ESRGAN x4 upscaling speed: the original RealESRGANer against i2i on the same weights.

    python benchmarks/bench_esrgan.py --realesrgan /tmp/anchors/xinntao+Real-ESRGAN \
        --basicsr /tmp/anchors/XPixelGroup+BasicSR [--size 512] [--repeats 2] [--out FILE]

(`--realesrgan` / `--basicsr` default to $REALESRGAN_ORIGINAL / $BASICSR_ORIGINAL: extracted
checkouts; they need opencv-python(-headless).) Writes benchmarks/results/esrgan-vm.json by default,
after every timed call (so a run cut short still leaves its numbers, with "complete": false).

Weights: the FULL-size RealESRGAN_x4plus network, BasicSR's own RRDBNet(3, 3, scale 4, nf 64, nb 23,
gc 32; 16,697,987 parameters) with seeded random weights (N(0, 1)/sqrt(fan_in), last bias +0.5),
saved as Real-ESRGAN publishes it: {"params_ema": state_dict}. Input: scikit-image's 512x512
`astronaut` photo (its top-left `--size` square) -> 2048x2048.

One call = one photo (BGR uint8 array, as cv2.imread gives) -> the x4 uint8 image, fp32 on the CPU:
- original: `RealESRGANer(scale=4, model=RRDBNet, tile=0, pre_pad=0, half=False).enhance(img)` as
  inference_realesrgan.py runs it (its default fp16 is a GPU option);
- i2i: `load_pipeline(pth, plugin="img2img")` (the ESRGAN importer) then `Pipeline.generate` and the
  conversion to uint8, the path `i2i-run` takes: fp32 in channels_last (i2i_img2img.rrdb), exact to
  ~1e-5 at full size;
- i2i fast dense (reported): the same with `RRDBNet.fast` (concatenation-free dense blocks);
- i2i bf16 (with --bf16; reported, not used for the ratio): the same generator under bf16 autocast, with its
  error against the fp32 original.
Calls alternate (original, i2i, i2i fast dense, [i2i bf16,] original, ...) after no warm-up (each call is a minute or
more; the first-call overhead is small against it), and medians of wall time are reported, with each call's process CPU time beside them (the machine
is shared: another process's load shows in wall time more than in CPU time).
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
import time
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def _stub(name: str, path: Path | None = None, **attrs: object) -> None:
    module = types.ModuleType(name)
    if path is not None:
        module.__path__ = [str(path)]
    module.__dict__.update(attrs)
    sys.modules[name] = module


def import_original(realesrgan: Path, basicsr: Path) -> tuple[type, type]:
    """BasicSR's RRDBNet and Real-ESRGAN's RealESRGANer without their package __init__ files (which
    import every architecture, the compiled DCN op and the training code); no source line changed."""
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


def seeded_weights(net: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / fan_in**0.5 if p.dim() > 1 else 0.05))
        net.conv_last.bias.add_(0.5)
    return net.state_dict()


def photo(size: int) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:size, :size, ::-1])  # BGR, as cv2.imread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realesrgan", type=Path, default=os.environ.get("REALESRGAN_ORIGINAL"))
    ap.add_argument("--basicsr", type=Path, default=os.environ.get("BASICSR_ORIGINAL"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "esrgan-vm.json")
    ap.add_argument("--bf16", action="store_true", help="also time i2i under bf16 autocast (reported only)")
    args = ap.parse_args()
    if args.realesrgan is None or args.basicsr is None:
        ap.error("give --realesrgan and --basicsr (or $REALESRGAN_ORIGINAL / $BASICSR_ORIGINAL)")
    from i2i.pipeline import load_pipeline

    rrdbnet, upsampler_cls = import_original(args.realesrgan, args.basicsr)
    net = rrdbnet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, scale=4)
    work = Path(tempfile.mkdtemp(prefix="bench-esrgan-"))
    weights = work / "RealESRGAN_x4plus.pth"
    torch.save({"params_ema": seeded_weights(net)}, weights)
    upsampler = upsampler_cls(
        4, str(weights), model=net, tile=0, pre_pad=0, half=False, device=torch.device("cpu")
    )
    floats: dict[str, np.ndarray] = {}
    post = upsampler.post_process

    def keep() -> torch.Tensor:
        out = post()
        floats["original"] = out[0].float().clamp(0, 1).numpy()
        return out

    upsampler.post_process = keep
    pipe = load_pipeline(weights, plugin="img2img", device="cpu")
    img = photo(args.size)

    def original() -> np.ndarray:
        return upsampler.enhance(img, outscale=4)[0][:, :, ::-1]  # -> RGB

    def i2i(bf16: bool = False) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1])).permute(2, 0, 1).float().div(127.5).sub(1)
        if bf16:
            from i2i.interfaces import Condition

            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                y = pipe.generator(Condition(maps=x[None])).float().clamp(-1, 1)[0]
        else:
            y = pipe.generate({"input": x[None]})[0]
        floats["i2i_bf16" if bf16 else "i2i_fast_dense" if pipe.generator.net.fast else "i2i"] = (
            y.add(1).div(2).numpy()
        )
        return y.add(1).mul(127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()

    def i2i_fast() -> np.ndarray:
        pipe.generator.net.fast = True
        try:
            return i2i()
        finally:
            pipe.generator.net.fast = False

    calls = {"original": original, "i2i": i2i, "i2i_fast_dense": i2i_fast}
    if args.bf16:
        calls["i2i_bf16"] = lambda: i2i(True)
    times: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    result: dict = {
        "benchmark": "Real-ESRGAN x4plus (full-size RRDBNet, random weights), one photo, CPU fp32",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "input": f"{args.size}x{args.size} -> {4 * args.size}x{4 * args.size}",
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    images: dict[str, np.ndarray] = {}
    for rep in range(args.repeats):
        for name, call in calls.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            images[name] = call()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            print(f"repeat {rep}: {name} {times[name][-1]:.1f} s", flush=True)
            _write(args.out, result, times, cpu, floats, images, complete=False)
    _write(args.out, result, times, cpu, floats, images, complete=True)
    print(args.out.read_text())


def _write(
    out: Path, result: dict, times: dict, cpu: dict, floats: dict, images: dict, complete: bool
) -> None:
    record = dict(result)
    record["seconds"] = {k: [round(t, 2) for t in v] for k, v in times.items()}
    record["process_cpu_seconds"] = {k: [round(t, 2) for t in v] for k, v in cpu.items()}
    med = {k: statistics.median(v) for k, v in times.items() if v}
    record["median_s"] = {k: round(v, 2) for k, v in med.items()}
    if "original" in med and "i2i" in med:
        record["ratio_original_over_i2i"] = round(med["original"] / med["i2i"], 2)
    if "original" in med and "i2i_bf16" in med:
        record["ratio_original_over_i2i_bf16"] = round(med["original"] / med["i2i_bf16"], 2)
    ref = floats.get("original")
    if "original" in med and "i2i_fast_dense" in med:
        record["ratio_original_over_i2i_fast_dense"] = round(med["original"] / med["i2i_fast_dense"], 2)
    for name in ("i2i", "i2i_fast_dense", "i2i_bf16"):
        if ref is not None and name in floats:
            diff = np.abs(floats[name] - ref)
            record[f"{name}_vs_original"] = {
                "max_abs_diff_0_1": float(diff.max()),
                "mean_abs_diff_0_1": float(diff.mean()),
                "uint8_equal_fraction": float((images[name] == images["original"]).mean()),
                "uint8_max_diff": int(
                    np.abs(images[name].astype(int) - images["original"].astype(int)).max()
                ),
            }
    record["tolerance"] = "i2i (fp32) must stay within 1e-4 of the original on [0, 1]; bf16 is reported only"
    record["complete"] = complete
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
