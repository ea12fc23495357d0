"""`precision: auto` per plugin: what the measurement picks for each plugin's default training
config on this machine, with the fp32 time as the baseline of the same run.

    python benchmarks/bench_precision.py [--only img2img,seg2img] [--out FILE]

For each plugin: demo data (`i2i data demo P --n 16`), the default config, a Trainer built as
`i2i-train` builds it, then the engine's own measurement (`Trainer._measure_precision`: two timed
steps after a warm-up in each candidate precision, on copies) with a fresh cache. Prints one JSON
document and writes it to `--out` (default `benchmarks/results/precision-<hostname>.json`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGINS = {
    "img2img": [],
    "seg2img": [],
    "pose2img": [],
    "text2img": [],
    "face2img": [],
    "unpaired": ["data.load_size=286", "data.crop_size=256"],  # the original CycleGAN size
}


def measure(plugin: str, extra: list[str], work: Path) -> dict:
    import torch

    from i2i.config import load_config
    from i2i.engine.trainer import Trainer
    from i2i.plugins import get_modality

    data = work / plugin
    exe = Path(sys.executable).parent / "i2i"
    subprocess.run(
        [str(exe), "data", "demo", plugin, "--out", str(data), "--n", "16"], check=True, capture_output=True
    )
    modality = get_modality(plugin)
    config = load_config(modality, sets=["train.precision=auto", "train.tensorboard=false", *extra])
    trainer = Trainer(config, modality, data, work / f"run-{plugin}", progress=False)
    start = time.perf_counter()
    trainer._measure_precision()
    cache_file = Path(os.environ["XDG_CACHE_HOME"]) / "i2i" / "precision.json"
    (entry,) = json.loads(cache_file.read_text())["entries"].values()  # one model per fresh cache
    cache_file.unlink()
    fp32 = entry["timings"].get("fp32")
    return {
        "choice": trainer.precision.name,
        "seconds_per_step": {k: {"value": round(v, 4), "unit": "s"} for k, v in entry["timings"].items()},
        "speedup_vs_fp32": {"value": round(fp32 / entry["timings"][trainer.precision.name], 3), "unit": "x"},
        "batch_size": int(config.train.batch_size),
        "measurement_wall": {"value": round(time.perf_counter() - start, 1), "unit": "s"},
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated plugins")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(PLUGINS)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # measure, never reuse an answer
        results = {}
        for plugin in chosen:
            results[plugin] = measure(plugin, PLUGINS[plugin], Path(tmp))
            print(plugin, results[plugin]["choice"], file=sys.stderr, flush=True)
    doc = {
        "machine": platform.processor() or platform.machine(),
        "host": socket.gethostname(),
        "plugins": results,
    }
    out = args.out or Path(__file__).parent / "results" / f"precision-{socket.gethostname()}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
