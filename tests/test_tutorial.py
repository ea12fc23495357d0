"""The plugin tutorial's code (docs/tutorial/dot2img.py) works as the docs say, end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from i2i.config import load_config
from i2i.engine.trainer import Trainer
from i2i.pipeline import load_pipeline

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial" / "dot2img.py"


def _load_tutorial():
    spec = importlib.util.spec_from_file_location("dot2img_tutorial", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tutorial_plugin_registers_trains_and_runs(fresh_plugins, tmp_path):
    tutorial = _load_tutorial()
    manager = fresh_plugins.get_manager()
    manager.register(tutorial, name="dot2img")
    modality = manager.get_modality("dot2img")
    assert manager.get_network("generator", "dot_generator").plugin == "(in-process)"

    tutorial.write_demo(tmp_path / "dots", n=64, seed=0)
    cfg = load_config(modality, sets=["train.steps=200", "train.tensorboard=false", "train.sample_every=100"])
    Trainer(cfg, modality, tmp_path / "dots", tmp_path / "run", progress=False).fit()

    pipe = load_pipeline(tmp_path / "run")

    def draw(dot: str) -> torch.Tensor:
        batch = torch.utils.data.default_collate([pipe.prepare({"dot": dot})])
        return pipe.generate(batch, seed=1)[0]

    red, blue = draw("0.5,0.5,1,0,0"), draw("0.5,0.5,0,0,1")
    assert red.shape == (3, 32, 32)
    # a red dot in the centre: redder there than green or blue, and than the corners
    centre = red[:, 13:19, 13:19].mean((1, 2))
    corner = red[:, :6, :6].mean((1, 2))
    assert centre[0] > centre[1] + 0.5 and centre[0] > centre[2] + 0.5, centre
    assert centre[0] > corner[0] + 0.5, (centre, corner)
    # the colour follows the condition: asking for blue makes the centre less red
    assert blue[0, 13:19, 13:19].mean() < centre[0] - 0.5
