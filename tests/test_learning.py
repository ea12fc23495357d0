"""Learning tests: the engine really learns on tiny data, measured on held-out samples."""

from __future__ import annotations

import torch

from i2i.config import load_config
from i2i.engine.trainer import Trainer
from i2i.pipeline import load_pipeline
from i2i.plugins import get_modality
from i2i_img2img.evaluate import evaluate

LEARN = [
    "train.batch_size=4",
    "train.tensorboard=false",
    "train.sample_every=1000",
    "train.checkpoint_every=1000",
    "data.load_size=36",
    "data.crop_size=32",
    "model.generator.num_downs=5",
    "model.generator.ngf=16",
    "model.discriminator.ndf=16",
    "model.discriminator.n_layers=2",
    "optim.lr_g=0.001",
    "optim.decay_from=1.0",
]


def test_img2img_learns_labels_to_facades(demo_data, tmp_path):
    """Held-out L1 (test split, never trained on) drops by at least 30% within 120 steps."""
    torch.manual_seed(0)
    modality = get_modality("img2img")
    cfg = load_config(modality, sets=[*LEARN, "train.steps=120"])
    trainer = Trainer(cfg, modality, demo_data, tmp_path / "run", progress=False)
    trainer.save_model(tmp_path / "untrained.safetensors")
    trainer.fit()
    before = evaluate(load_pipeline(tmp_path / "untrained.safetensors"), demo_data, split="test")
    after = evaluate(load_pipeline(tmp_path / "run"), demo_data, split="test")
    assert after["images"] >= 2
    assert after["model"]["l1"] < 0.7 * before["model"]["l1"], (before["model"], after["model"])
