"""The shipped default img2img model (x4 super-resolution): runs from the plugin name alone, and
beats bicubic upsampling on a held-out real photo (one the model never saw in training)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from i2i.data.images import image_to_tensor
from i2i.engine.checkpoint import read_metadata
from i2i.metrics.paired import image_scores
from i2i.modality import resolve_resource
from i2i.pipeline import load_pipeline
from i2i.plugins import get_modality
from i2i_img2img.photos import TEST, TRAIN, load_photo

BIN = Path(sys.executable).parent


def _held_out_pair(name: str = "chelsea", size: int = 192) -> tuple[torch.Tensor, torch.Tensor]:
    photo = Image.fromarray(load_photo(name))
    w, h = photo.size
    box = ((w - size) // 2, (h - size) // 2, (w + size) // 2, (h + size) // 2)
    target = photo.crop(box)
    small = target.resize((size // 4, size // 4), Image.Resampling.BICUBIC)
    return image_to_tensor(small), image_to_tensor(target)


@pytest.mark.parametrize("plugin", ["img2img", "text2img", "seg2img", "pose2img", "face2img", "unpaired"])
def test_every_plugin_ships_a_small_default_model_of_its_own(plugin):
    """The file a plugin declares as `default_checkpoint` exists in the installed package, is a
    few MB (< 20 MiB), and its metadata names the plugin (so `i2i-run --plugin P` loads it)."""
    path = resolve_resource(get_modality(plugin).default_checkpoint)
    assert path.exists() and path.stat().st_size < 20 * 2**20
    assert read_metadata(path)["plugin"] == plugin


def test_default_img2img_model_is_super_resolution_trained_apart_from_its_test_photos():
    meta = read_metadata(resolve_resource(get_modality("img2img").default_checkpoint))
    assert '"task": "sr"' in meta["config"]
    assert not set(TEST) & set(TRAIN)


def test_default_model_beats_bicubic_on_a_held_out_photo():
    small, target = _held_out_pair()
    pipe = load_pipeline("img2img", device="cpu")
    batch = {k: v[None] for k, v in pipe.prepare({"input": small}).items()}
    out = pipe.generate(batch, seed=0)[0]
    assert out.shape == target.shape
    bicubic = F.interpolate(small[None], scale_factor=4, mode="bicubic", align_corners=False)[0].clamp(-1, 1)
    model, base = image_scores(out, target), image_scores(bicubic, target)
    assert model["psnr"] > base["psnr"] + 0.2, (model, base)


def test_i2i_run_with_only_the_plugin_name(tmp_path):
    small, _ = _held_out_pair(size=96)
    src = tmp_path / "small.png"
    Image.fromarray(((small.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).save(src)
    out = tmp_path / "big.png"
    proc = subprocess.run(
        [str(BIN / "i2i-run"), "--plugin", "img2img", "--input", str(src), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (96, 96)
    assert np.asarray(Image.open(out)).std() > 10  # a photo, not a flat image
