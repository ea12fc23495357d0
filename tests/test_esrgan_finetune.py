"""Fine-tuning an imported Real-ESRGAN: `i2i-train --plugin img2img --init RealESRGAN_x4plus.pth
--config realesrgan` on a few tiny photos runs Real-ESRGAN's recipe (esrgan_l1 against the USM
target, GAN 0.1, U-Net SN discriminator, EMA) starting from the imported weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from i2i.pipeline import load_pipeline, read_input

FIXTURES = Path(__file__).parent / "fixtures" / "esrgan"
BIN = Path(sys.executable).parent


def _photos(folder: Path, n: int = 6, size: int = 48) -> None:
    """Crops of scikit-image's astronaut (public domain) in the photos layout (train/ and val/)."""
    from skimage import data

    photo = data.astronaut()
    for split, count in (("train", n), ("val", 2)):
        (folder / split).mkdir(parents=True)
        for i in range(count):
            y, x = 40 * i + (0 if split == "train" else 300), 30 * i
            Image.fromarray(photo[y : y + size, x : x + size]).save(folder / split / f"{i:03d}.png")


def test_fine_tune_from_a_realesrgan_checkpoint(tmp_path: Path) -> None:
    data, run = tmp_path / "photos", tmp_path / "run"
    _photos(data)
    init = FIXTURES / "realesrgan_x4plus.pth"
    sets = [
        "train.steps=2", "train.batch_size=2", "data.load_size=32", "data.crop_size=32",
        "train.precision=fp32", "train.tensorboard=false", "train.sample_every=1000",
        "loss.generator.esrgan_perceptual=0",  # needs ImageNet VGG19 weights, absent offline
        "optim.lr_g=0",  # G must come out exactly as imported (D still learns at 1e-4)
    ]  # fmt: skip
    done = subprocess.run(
        [str(BIN / "i2i-train"), "--plugin", "img2img", "--init", str(init), "--config", "realesrgan",
         "--data", str(data), "--out", str(run), "--quiet", *[a for s in sets for a in ("--set", s)]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    tuned = load_pipeline(run / "model.safetensors", device="cpu")
    config = tuned.config
    # the import decides the architecture, the preset the recipe
    assert config.model.generator.name == "rrdb" and (
        config.model.generator.nf,
        config.model.generator.gc,
    ) == (16, 8)
    assert config.model.discriminator.name == "unet_sn"
    assert config.loss.generator.esrgan_l1.usm and config.loss.generator.adversarial == 0.1
    assert config.train.init == str(init)
    # the generator started from the imported weights (lr 0: unchanged but for EMA rounding)
    imported = load_pipeline(init, plugin="img2img", device="cpu")
    before, after = imported.generator.state_dict(), tuned.generator.state_dict()
    assert before.keys() == after.keys()
    assert max(float((after[k] - before[k]).abs().max()) for k in before) <= 1e-6
    # and the saved model still gives RealESRGANer's output
    image = read_input("image", FIXTURES / "realesrgan_x4plus_in.png")
    out = tuned.generate({"input": image[None]})[0].add(1).div(2).numpy()
    assert np.abs(out - np.load(FIXTURES / "realesrgan_x4plus_out.npy")).max() <= 1e-4
    # both sides trained: the logged terms are finite numbers
    logged = _last_log(run)
    for key in ("g_esrgan_l1", "g_adversarial", "d_adversarial"):
        assert np.isfinite(logged[key]), (key, logged)


def _last_log(run: Path) -> dict[str, float]:
    lines = (run / "metrics.jsonl").read_text().strip().splitlines()
    return json.loads(lines[-1])
