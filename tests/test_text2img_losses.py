"""text2img's own loss terms (DF-GAN's mismatched-caption negatives and MA-GP) live in the plugin
and reach the engine through `register_loss_terms`; any modality with a `vector` condition can
list them (the tutorial's dot2img here), and old flat config keys migrate to them."""

from __future__ import annotations

import json

import pytest
import torch

from i2i.config import load_config, migrate
from i2i.engine.trainer import Trainer
from i2i.interfaces import DOutput
from i2i_text2img.losses import matching_aware_gp


def test_matching_aware_gp_is_the_gradient_norm_to_the_power():
    real = torch.randn(2, 3, 4, 4, requires_grad=True)
    vector = torch.randn(2, 5, requires_grad=True)
    w, u = torch.full((3, 4, 4), 0.5), torch.full((5,), 2.0)
    logits = (real * w).flatten(1).sum(1) + (vector * u).sum(1)
    expected = (48 * 0.25 + 5 * 4.0) ** 0.5  # ||(w, u)|| for every sample
    value = matching_aware_gp([DOutput(logits[:, None], [])], real, vector, power=6.0)
    assert value.item() == pytest.approx(expected**6, rel=1e-5)


def test_old_flat_keys_migrate_to_the_plugin_terms():
    old = {"loss": {"gan": "hinge", "l1": 10.0, "mismatch": 1.0, "ma_gp": 2.0, "ma_gp_power": 6.0,
                    "ma_gp_every": 4, "gan_weight": 1.0, "r1": 0.0}}  # fmt: skip
    new = migrate(old, "old.yaml")["loss"]
    assert new["gan"] == "hinge" and new["generator"] == {"l1": 10.0, "adversarial": 1.0}
    assert new["discriminator"]["mismatch"] == 1.0 and new["discriminator"]["r1"] == 0.0
    assert new["discriminator"]["ma_gp"] == {"weight": 2.0, "power": 6.0, "every": 4}


def test_mismatch_and_ma_gp_train_a_vector_conditioned_modality(fresh_plugins, tmp_path):
    """The tutorial's dot2img has a `vector` condition: both matching-aware terms apply to it."""
    from test_tutorial import _load_tutorial

    tutorial = _load_tutorial()
    manager = fresh_plugins.get_manager()
    manager.register(tutorial, name="dot2img")
    tutorial.write_demo(tmp_path / "dots", n=16, seed=0)
    sets = ["train.steps=2", "train.batch_size=4", "train.log_every=1", "train.tensorboard=false",
            "loss.discriminator.mismatch=1", "loss.discriminator.ma_gp=2"]  # fmt: skip
    cfg = load_config(manager.get_modality("dot2img"), sets=sets)
    Trainer(cfg, manager.get_modality("dot2img"), tmp_path / "dots", tmp_path / "run", progress=False).fit()
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["d_mismatch"] > 0 and row["d_ma_gp"] > 0
    assert all(torch.isfinite(torch.tensor(v)) for v in row.values())
