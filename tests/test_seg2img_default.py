"""The shipped default seg2img model: runs from the plugin name alone on a held-out demo map (one
of the scenes the default training set holds out), follows the map class by class, and draws
different plausible photos for different seeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from i2i.pipeline import load_pipeline
from i2i_seg2img.demo import CLASSES, scene
from i2i_seg2img.evaluate import _class_means

BIN = Path(sys.executable).parent
HELD_OUT = range(140, 160)  # the test split of `i2i data demo seg2img --n 160 --seed 0`


def test_default_model_knows_the_demo_classes():
    pipe = load_pipeline("seg2img", device="cpu")
    assert pipe.conditioner.palette.tolist() == [list(c) for _, c in CLASSES]


def test_classes_get_their_own_colours_and_seeds_give_different_photos():
    pipe = load_pipeline("seg2img", device="cpu")
    maps = [scene(0, i, 128) for i in HELD_OUT[:6]]
    labels = torch.stack([torch.from_numpy(m[0]).long() for m in maps])
    real = torch.stack([torch.from_numpy(m[1]).permute(2, 0, 1).float() / 127.5 - 1 for m in maps])
    fake = pipe.generate({"labels": labels}, seed=0)
    real_means, fake_means = (
        _class_means(real, labels, len(CLASSES)),
        _class_means(fake, labels, len(CLASSES)),
    )
    present = ~real_means.isnan().any(1)
    error = float((fake_means - real_means)[present].abs().mean())
    # a model that ignores the map paints every class the same average colour
    flat = real.mean(dim=(0, 2, 3), keepdim=True).expand_as(real)
    flat_error = float((_class_means(flat, labels, len(CLASSES)) - real_means)[present].abs().mean())
    assert error < 0.5 * flat_error, (error, flat_error)
    other = pipe.generate({"labels": labels}, seed=1)
    assert (other - fake).abs().mean() > 0.02  # several plausible photos per map


def test_i2i_run_with_only_the_plugin_name(tmp_path):
    labels = tmp_path / "map.png"
    Image.fromarray(scene(0, HELD_OUT[0], 128)[0]).save(labels)
    out = tmp_path / "photos.png"
    cmd = [str(BIN / "i2i-run"), "--plugin", "seg2img", "--labels", str(labels), "--num-samples", "2"]
    proc = subprocess.run(
        [*cmd, "--seed", "0", "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert np.asarray(Image.open(out)).shape == (128, 256, 3)
