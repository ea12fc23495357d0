"""Fine-tuning an imported DF-GAN: `i2i-train --plugin text2img --config dfgan --init <DF-GAN folder>` on the
demo birds starts from the imported generator and encodes the captions with the imported DAMSM encoder
and vocabulary (frozen, saved in the run's model file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from i2i.engine import checkpoint as ckpt
from i2i.pipeline import load_pipeline
from i2i_text2img.demo import write_birds

FIXTURE = Path(__file__).parent / "fixtures" / "dfgan"
BIN = Path(sys.executable).parent


def test_fine_tune_from_a_dfgan_folder(tmp_path):
    data, run = tmp_path / "birds", tmp_path / "run"
    write_birds(data, n=8, seed=0, size=64)
    sets = ["train.steps=2", "train.batch_size=4", "data.image_size=64", "train.tensorboard=false"]
    done = subprocess.run(
        [str(BIN / "i2i-train"), "--plugin", "text2img", "--config", "dfgan", "--init", str(FIXTURE),
         "--data", str(data), "--out", str(run), "--quiet", *[a for s in sets for a in ("--set", s)]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = load_pipeline(FIXTURE, plugin="text2img", device="cpu")
    tuned = load_pipeline(run / "model.safetensors", device="cpu")
    assert tuned.config.model.conditioner.encoder == "damsm"
    assert tuned.config.model.generator.layout == "original" and tuned.config.model.generator.ngf == 4
    assert tuned.config.loss.discriminator.ma_gp.every == 1  # the preset's recipe, the import's model
    _, parts = ckpt.load_model(run / "model.safetensors")
    assert "damsm.words" in parts["conditioner"]  # the vocabulary travels in the model file
    # the frozen encoder: the same sentence vectors as the original gives
    prompts = ["red bird with short beak", "a small blue bird with a long thin bill"]
    with torch.no_grad():
        vector = tuned.conditioner({"caption": prompts}).vector.numpy()
    assert np.abs(vector - np.load(FIXTURE / "sent_emb.npy")[:2]).max() <= 1e-5
    # the generator started from the imported weights and moved (lr 1e-4, 2 Adam steps)
    before, after = imported.generator.state_dict(), tuned.generator.state_dict()
    diffs = [float((after[k] - before[k]).abs().max()) for k in before]
    assert 0 < max(diffs) < 1e-2
