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


def _load(name: str):
    path = TUTORIAL.with_name(name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tutorial_loss_term_is_registered_configured_and_trained(fresh_plugins, tmp_path):
    """docs/tutorial/dot_loss_term.py: a generator term with an option, listed in a config."""
    import json

    tutorial, term = _load_tutorial(), _load("dot_loss_term.py")
    manager = fresh_plugins.get_manager()
    manager.register(tutorial, name="dot2img")
    manager.register(term, name="dot_loss_term")
    # the term itself: zero for a dot exactly where asked, positive for one elsewhere
    image = -torch.ones(1, 3, 32, 32)
    image[:, :, 6:10, 20:24] = 1  # centre of mass at x = 22/32, y = 8/32
    at = {"cond": type("C", (), {"vector": torch.tensor([[22 / 32, 8 / 32, 1, 1, 1]])})(), "fake": image}
    off = {"cond": type("C", (), {"vector": torch.tensor([[0.25, 0.75, 1, 1, 1]])})(), "fake": image}
    assert term.DotPosition()(type("V", (), at)()).item() < 1e-6
    assert term.DotPosition()(type("V", (), off)()).item() > 0.3

    tutorial.write_demo(tmp_path / "dots", n=16, seed=0)
    sets = ["train.steps=4", "train.tensorboard=false", "train.log_every=1", "train.batch_size=4",
            "loss.generator.dot_position={weight: 5.0, power: 2.0}"]  # fmt: skip
    modality = manager.get_modality("dot2img")
    trainer = Trainer(
        load_config(modality, sets=sets), modality, tmp_path / "dots", tmp_path / "run", progress=False
    )
    assert [(t.name, t.weight, t.term.power) for t in trainer.recipe.g_terms if t.name == "dot_position"] == [
        ("dot_position", 5.0, 2.0)
    ]
    trainer.fit()
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["g_dot_position"] > 0 for r in rows)


def test_tutorial_recipe_trains_without_a_discriminator_and_resumes_exactly(fresh_plugins, tmp_path):
    """docs/tutorial/dot_recipe.py: a one-optimiser recipe the engine checkpoints and resumes."""
    tutorial, recipe = _load_tutorial(), _load("dot_recipe.py")
    manager = fresh_plugins.get_manager()
    manager.register(tutorial, name="dot2img")
    manager.register(recipe, name="dot_recipe")
    modality = manager.get_modality("dot2img")
    tutorial.write_demo(tmp_path / "dots", n=64, seed=0)
    sets = ["recipe=regression", "train.tensorboard=false", "train.sample_every=100",
            "optim.decay_from=1.0"]  # constant lr: the first half does not depend on the total  # fmt: skip

    def trainer(run: str, steps: int) -> Trainer:
        cfg = load_config(modality, sets=[*sets, f"train.steps={steps}", "train.checkpoint_every=50"])
        return Trainer(cfg, modality, tmp_path / "dots", tmp_path / run, progress=False)

    straight = trainer("a", 200)
    assert set(straight.recipe.networks) == {"conditioner", "generator"} and set(straight.optimizers) == {"g"}
    straight.fit()
    trainer("b", 100).fit()
    resumed = trainer("b", 200)
    resumed.fit(resume=True)
    for key, value in straight.generator.state_dict().items():
        assert torch.equal(value, resumed.generator.state_dict()[key]), key
    # it learned: the dot is drawn where asked, in the colour asked
    pipe = load_pipeline(tmp_path / "a")
    batch = torch.utils.data.default_collate([pipe.prepare({"dot": "0.5,0.5,1,0,0"})])
    red = pipe.generate(batch, seed=1)[0]
    centre, corner = red[:, 13:19, 13:19].mean((1, 2)), red[:, :6, :6].mean((1, 2))
    assert centre[0] > centre[2] + 0.5 and centre[0] > corner[0] + 0.5, (centre, corner)
