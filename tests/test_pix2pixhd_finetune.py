"""Fine-tuning an original pix2pixHD generator: `i2i-train --plugin seg2img --init latest_net_G.pth`
with the pix2pixHD preset (its multi-scale discriminator, LSGAN, feature matching) on tiny data
with the checkpoint's label count, then the result is an ordinary i2i model file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from i2i.pipeline import load_pipeline

FIXTURE = Path(__file__).parent / "fixtures" / "pix2pixhd" / "global-instance" / "latest_net_G.pth"
BIN = Path(sys.executable).parent
NUM_CLASSES = 6  # the fixture's label_nc


def _write_data(root: Path, n: int = 4, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (NUM_CLASSES, 3))
    classes = [{"id": i, "name": f"c{i}", "color": [int(v) for v in c]} for i, c in enumerate(colours)]
    (root).mkdir(parents=True)
    (root / "classes.json").write_text(json.dumps({"classes": classes, "ignore_index": 255}))
    for i in range(n):
        split = "test" if i == n - 1 else "train"
        labels = np.zeros((size, size), np.uint8)
        labels[size // 2 :] = rng.integers(0, NUM_CLASSES)
        labels[:, : size // 3] = rng.integers(0, NUM_CLASSES)
        instances = labels.astype(np.uint16) * 1000 + (np.arange(size) >= size // 2)[None, :]
        photo = (colours[labels] + rng.normal(0, 6, (size, size, 3))).clip(0, 255).astype(np.uint8)
        for sub, array, suffix in (
            ("labels", labels, "png"),
            ("instances", instances, "png"),
            ("images", photo, "jpg"),
        ):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / split / sub / f"{i:03d}.{suffix}")
    return root


def test_finetune_from_original_checkpoint(tmp_path: Path) -> None:
    data = _write_data(tmp_path / "data")
    run = tmp_path / "run"
    sets = [
        f"data.num_classes={NUM_CLASSES}",
        "data.load_size=32",
        "data.crop_size=32",
        "loss.generator.vgg=0",  # no VGG19 weights offline
        "model.discriminator.ndf=8",
        "train.steps=2",
        "train.batch_size=2",
        "train.precision=fp32",
        "train.log_every=1",
        "train.sample_every=2",
        "train.checkpoint_every=2",
        "train.tensorboard=false",
    ]
    cmd = [str(BIN / "i2i-train"), "--plugin", "seg2img", "--init", str(FIXTURE), "--config", "pix2pixhd"]
    cmd += ["--data", str(data), "--out", str(run), "--quiet"] + [a for s in sets for a in ("--set", s)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

    tuned = load_pipeline(run, device="cpu")
    original = load_pipeline(FIXTURE, plugin="seg2img", device="cpu")
    assert tuned.config.model.generator.to_dict() == original.config.model.generator.to_dict()
    assert tuned.config.model.discriminator.name == "pix2pixhd_multiscale"
    before = original.generator.state_dict()
    after = tuned.generator.state_dict()
    # Started from the imported weights (2 Adam steps at lr 2e-4 move each by at most ~4e-4) ...
    change = max(float((after[k] - before[k]).abs().max()) for k in before if before[k].is_floating_point())
    assert 0 < change < 1e-2
    # ... and the fine-tuned file is an ordinary i2i model that generates from a label map.
    labels = torch.from_numpy(np.array(Image.open(data / "test" / "labels" / "003.png"), np.int64))[None]
    batch = {k: v[None] for k, v in tuned.prepare({"labels": labels}).items()}
    out = tuned.generate(batch)
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
