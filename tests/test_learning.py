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


def _colour_histogram(images: torch.Tensor) -> torch.Tensor:
    return (
        torch.stack([torch.histc(images[:, c], bins=16, min=-1, max=1) for c in range(3)])
        / images[:, 0].numel()
    )


def test_text2img_learns_the_look_of_held_out_birds(tmp_path):
    """A GAN has no paired target, so the held-out metric is distributional: the L1 distance between
    the colour histograms of images generated for held-out captions and of the real held-out
    images drops by at least a third within 120 steps (16x16 birds; measured: by 46%)."""
    from i2i_text2img.data import CaptionDataset
    from i2i_text2img.demo import write_birds

    torch.manual_seed(0)
    birds = tmp_path / "birds"
    write_birds(birds, n=96, seed=0, size=32)
    modality = get_modality("text2img")
    sets = [
        "train.steps=120",
        "train.batch_size=8",
        "train.tensorboard=false",
        "train.sample_every=1000",
        "train.checkpoint_every=1000",
        "ema.decay=0",
        "data.image_size=16",
        "model.generator.image_size=16",
        "model.generator.ngf=16",
        "model.generator.noise_dim=16",
        "model.discriminator.image_size=16",
        "model.discriminator.ndf=16",
    ]
    cfg = load_config(modality, sets=sets)
    trainer = Trainer(cfg, modality, birds, tmp_path / "run", progress=False)
    trainer.save_model(tmp_path / "untrained.safetensors")
    trainer.fit()
    test = CaptionDataset(birds, cfg.data, "test", False)
    real = _colour_histogram(torch.stack([test[i]["target"] for i in range(len(test))]))
    captions = {"caption": [test.captions(i)[0] for i in range(len(test))]}

    def distance(source) -> float:
        generated = load_pipeline(source).generate(captions, seed=0)
        return float((_colour_histogram(generated) - real).abs().sum())

    before, after = distance(tmp_path / "untrained.safetensors"), distance(tmp_path / "run")
    assert after < 0.67 * before, (before, after)
