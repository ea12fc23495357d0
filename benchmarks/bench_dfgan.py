#!/usr/bin/env python
"""DF-GAN sampling speed: the original code (github.com/tobran/DF-GAN) against i2i on the same weights.

    python benchmarks/bench_dfgan.py --original /tmp/anchors/dfgan [--reps 5] [--out FILE]

(`--original` defaults to $DFGAN_ORIGINAL: the extracted repository, the folder holding code/; it needs
nltk, easydict, scipy and python-dateutil.) Writes one JSON document to --out (default
benchmarks/results/dfgan-<hostname>.json) and prints it.

Weights: the full-size CUB NetG (nf 32, z 100, cond_dim 256, 256x256; the original's own class, seeded
random weights, affine layers perturbed off the identity) saved with the original's `save_models`, and
a DAMSM RNN_ENCODER (embedding 300, nhidden 256) over the 48-word vocabulary of tests/fixtures/dfgan.
i2i imports that folder with its DF-GAN importer (`load_pipeline(DIR, plugin="text2img")`).

One call = 16 prompts -> 16 images at 256x256, on the CPU, batch 16:
- original: `lib.utils.tokenize` (the prompts file) + `prepare_sample_data` (sort, RNN_ENCODER, unsort)
  + `truncated_noise` + `netG(noise, sent_emb)` under `torch.no_grad()`, as `src/sample.py` does;
- i2i: `Pipeline.prepare` per prompt + `Pipeline.generate` (DAMSM encoder + draw_noise + generator,
  clamp), the path `i2i-run` takes.
Calls alternate (original, i2i, original, ...) after one warm-up call each, and medians are reported
(the machine is shared). The outputs are compared on the original's noise and sentence vectors.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import importlib.machinery
import io
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "tests" / "fixtures" / "dfgan"
PROMPTS = [
    "red bird with short beak",
    "a small blue bird with a long thin bill",
    "this bird has a yellow crown and grey wings",
    "an all green bird perched on a branch",
    "a large black bird with a white belly",
    "this small bird is mostly orange with a brown head",
    "a grey bird with a short pointed beak",
    "the bird has red wings, a white breast and a long beak",
    "a brown and white bird standing on the grass",
    "this is a small yellow bird flying in the sky",
    "a blue bird with black wing feathers and an orange bill",
    "a white bird with a green crown and a short beak",
    "this bird has a black body and a long pointed bill",
    "a small red bird perched on a branch",
    "the bird is green with grey wings",
    "a large orange bird with a thin black beak",
]


def _original(code: Path) -> dict[str, object]:
    """Import the original's modules (patches as in tests/fixtures/dfgan/README.md)."""
    sys.path.insert(0, str(code))
    stub = types.ModuleType("pandas")  # lib/datasets.py needs it only for CUB bounding boxes
    stub.__spec__ = importlib.machinery.ModuleSpec("pandas", None)
    sys.modules.setdefault("pandas", stub)
    from lib import utils
    from models.DAMSM import RNN_ENCODER
    from models.GAN import NetC, NetD, NetG

    return {"utils": utils, "RNN_ENCODER": RNN_ENCODER, "NetG": NetG, "NetD": NetD, "NetC": NetC}


def make_folder(orig: dict, folder: Path) -> None:
    """Full-size NetG + tiny-vocabulary DAMSM encoder, saved as the original saves them."""
    torch.manual_seed(0)
    shutil.copy(FIXTURE / "captions_DAMSM.pickle", folder / "captions_DAMSM.pickle")
    encoder = orig["RNN_ENCODER"](48, nhidden=256)
    torch.save(encoder.state_dict(), folder / "text_encoder200.pth")
    netG = orig["NetG"](32, 100, 256, 256, 3)
    with torch.no_grad():
        for name, p in netG.named_parameters():
            if ".linear2." in name:
                p.add_(torch.randn_like(p) * (0.3 if name.endswith("weight") else 0.1))
    netD, netC = orig["NetD"](32, 256, 3), orig["NetC"](32, 256)
    optG = torch.optim.Adam(netG.parameters(), lr=0.0001, betas=(0.0, 0.9))
    optD = torch.optim.Adam(list(netD.parameters()) + list(netC.parameters()), lr=0.0004, betas=(0.0, 0.9))
    orig["utils"].save_models(netG, netD, netC, optG, optD, 1, False, str(folder))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--original", default=os.environ.get("DFGAN_ORIGINAL"), help="DF-GAN checkout")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not args.original:
        sys.exit("give --original PATH (or DFGAN_ORIGINAL): the extracted github.com/tobran/DF-GAN")
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    orig = _original(Path(args.original).resolve() / "code")
    utils = orig["utils"]

    from i2i.pipeline import _collate, load_pipeline

    tmp = Path(tempfile.mkdtemp(prefix="bench_dfgan."))
    try:
        make_folder(orig, tmp)
        prompts_file = tmp / "prompts.txt"
        prompts_file.write_text("\n".join(PROMPTS) + "\n")
        _, wordtoix = None, None
        import pickle

        with open(tmp / "captions_DAMSM.pickle", "rb") as f:  # our own file: plain pickle is fine here
            wordtoix = pickle.load(f)[3]
        text_encoder = orig["RNN_ENCODER"](len(wordtoix), nhidden=256)
        text_encoder = utils.load_model_weights(text_encoder, torch.load(tmp / "text_encoder200.pth"), False)
        text_encoder.eval()
        netG = utils.load_netG(
            orig["NetG"](32, 100, 256, 256, 3), str(tmp / "state_epoch_001.pth"), False, False
        )
        netG.eval()
        pipe = load_pipeline(tmp, plugin="text2img", device="cpu")

        def run_original() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            with contextlib.redirect_stdout(io.StringIO()):  # prepare_sample_data prints a rule
                captions, cap_lens, _ = utils.tokenize(wordtoix, str(prompts_file))
                sent_emb, _ = utils.prepare_sample_data(captions, cap_lens, text_encoder, torch.device("cpu"))
            noise = torch.tensor(utils.truncated_noise(len(PROMPTS), 100, 0.88), dtype=torch.float)
            with torch.no_grad():
                return netG(noise, sent_emb), noise, sent_emb

        def run_i2i() -> torch.Tensor:
            batch = _collate([pipe.prepare({"prompt": p}) for p in PROMPTS])
            return pipe.generate(batch, 1, seed=0)

        # same weights, same inputs: the generator on the original's noise and sentence vectors
        from i2i.interfaces import Condition

        fake, noise, sent = run_original()
        with torch.no_grad():
            mine = pipe.conditioner({"caption": PROMPTS}).vector
            image = pipe.generator(Condition(vector=mine), noise)
        diff_sent = float((mine - sent).abs().max())
        diff_image = float((image - fake).abs().max())
        run_i2i()
        times: dict[str, list[float]] = {"original": [], "i2i": []}
        for _ in range(args.reps):
            for name, fn in (("original", run_original), ("i2i", run_i2i)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
            print(f"original {times['original'][-1]:.3f} s, i2i {times['i2i'][-1]:.3f} s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "DF-GAN sampling: 16 prompts -> 16 images 256x256 (full-size CUB NetG, random weights)",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "hostname": socket.gethostname(),
            "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "original": {"what": "tokenize + prepare_sample_data + truncated_noise + netG under no_grad"},
        "i2i": {
            "what": "Pipeline.prepare per prompt + Pipeline.generate (DAMSM + noise + generator + clamp)"
        },
        "reps": args.reps,
        "seconds": {
            k: {"median": round(m, 4), "all": [round(t, 4) for t in times[k]]} for k, m in med.items()
        },
        "ms_per_image": {k: round(1000 * m / len(PROMPTS), 2) for k, m in med.items()},
        "ratio_original_over_i2i": round(med["original"] / med["i2i"], 3),
        "max_abs_diff": {"sentence_vector": diff_sent, "image_same_noise": diff_image},
        "parameters": {"netG": sum(p.numel() for p in netG.parameters())},
    }
    out = Path(args.out) if args.out else HERE / "results" / f"dfgan-{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
