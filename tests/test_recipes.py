"""The engine's guarantees hold for every recipe, whatever networks and optimisers it names:
paired (img2img), the unpaired plugin's cycle (two generators, two discriminators, image pools in
the run state) and the tutorial's regression (one optimiser, no discriminator):
- Ctrl-C / SIGTERM mid-step finishes that step and saves it, and `--resume` ends bit-identical to an
  uninterrupted run (every network, every optimiser's moments, EMA copies, recipe state);
- a step whose loss is not finite updates no weight and is counted for every optimiser;
- bf16 autocast with channels_last trains to finite losses and moves the weights.
(SIGKILL at random moments is tests/test_fault_tolerance.py and tests/test_unpaired.py.)"""

from __future__ import annotations

import json

import pytest
import torch

from i2i.config import load_config
from i2i.engine import checkpoint as ckpt
from i2i.engine.trainer import Trainer

from tiny import TINY

CYCLE = ["train.batch_size=2", "train.log_every=1", "train.sample_every=1000", "train.tensorboard=false",
         "data.load_size=32", "data.crop_size=32", "model.generator.ngf=8", "model.generator.n_blocks=1",
         "model.discriminator.ndf=8", "model.discriminator.n_layers=2", "ema.decay=0.9"]  # fmt: skip


@pytest.fixture(scope="module")
def cycle_data(tmp_path_factory):
    from i2i_unpaired.demo import write_demo

    out = tmp_path_factory.mktemp("day2night")
    write_demo(out, n=8, seed=0, size=32)
    return out


@pytest.fixture(params=["paired", "cycle", "regression"])
def recipe_case(request, demo_data, cycle_data, fresh_plugins):
    """(make_trainer(run_dir, *sets), recipe name) for one recipe on its own tiny data."""
    manager = fresh_plugins.get_manager()
    if request.param == "cycle":
        modality, data, sets = manager.get_modality("unpaired"), cycle_data, CYCLE
    elif request.param == "regression":
        from test_tutorial import _load, _load_tutorial

        manager.register(_load_tutorial(), name="dot2img")
        manager.register(_load("dot_recipe.py"), name="dot_recipe")
        modality = manager.get_modality("dot2img")
        data = demo_data.parent / "dots"
        if not data.exists():
            _load_tutorial().write_demo(data, n=16, seed=0)
        sets = ["recipe=regression", "train.batch_size=4", "train.log_every=1", "train.tensorboard=false",
                "ema.decay=0.9"]  # fmt: skip
    else:
        modality, data, sets = manager.get_modality("img2img"), demo_data, [*TINY, "ema.decay=0.9"]

    def make(run, *extra):
        cfg = load_config(modality, sets=[*sets, "train.precision=fp32", *extra])
        return Trainer(cfg, modality, data, run, progress=False)

    return make, request.param


def _same_state(a: dict, b: dict) -> None:
    def walk(x, y, where):
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), where
        elif isinstance(x, dict):
            assert set(x) == set(y), where
            for k in x:
                walk(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), where
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, f"{where}[{i}]")

    for key in a:
        if key not in ("rng",):
            walk(a[key], b[key], key)


def test_interrupt_then_resume_is_bit_identical(recipe_case, tmp_path):
    import os
    import signal

    make, _ = recipe_case
    straight = make(tmp_path / "a", "train.steps=6")
    straight.fit()
    first = make(tmp_path / "b", "train.steps=6", "train.checkpoint_every=100")
    real_step = first.train_step

    def interrupted(micro):
        if first.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # during step 4: it finishes, then is saved
        return real_step(micro)

    first.train_step = interrupted
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    assert [p.name for p in ckpt.list_states(tmp_path / "b")] == ["state-00000004.safetensors"]
    second = make(tmp_path / "b", "train.steps=6", "train.checkpoint_every=100")
    second.fit(resume=True)
    a, b = straight.state(), second.state()
    assert set(a) >= {f"opt_{o}" for o in straight.recipe.optimizers} | set(straight.recipe.networks)
    _same_state(a, b)


def test_a_nonfinite_step_updates_nothing(recipe_case, tmp_path, monkeypatch):
    make, _ = recipe_case
    trainer = make(tmp_path / "run", "train.steps=4")
    batches = trainer._batches()
    trainer.train_step([next(batches)])
    before = {
        n: {k: v.clone() for k, v in net.state_dict().items()} for n, net in trainer.recipe.networks.items()
    }
    from i2i import terms

    real = terms.total
    monkeypatch.setattr(terms, "total", lambda values, device: real(values, device) * float("nan"))
    stats = trainer.train_step([next(batches)])
    assert {f"skipped_{o}" for o in trainer.recipe.optimizers} <= set(stats), stats
    for n, net in trainer.recipe.networks.items():  # (normalisation running statistics may move)
        for k, v in net.named_parameters():
            assert torch.equal(before[n][k], v), f"{n}.{k} changed on a NaN step"


def test_bf16_channels_last_trains(recipe_case, tmp_path):
    make, _ = recipe_case
    trainer = make(tmp_path / "run", "train.steps=2", "train.precision=bf16", "train.channels_last=true")
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    trainer.fit()
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert all(torch.isfinite(torch.tensor(v)) for v in row.values()), row
    after = trainer.generator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


def test_cycle_recipe_trains_under_torchrun_and_resumes_in_one_process(cycle_data, tmp_path):
    """DDP wraps what each of the cycle recipe's optimisers trains (both generators + conditioner,
    both discriminators); two gloo ranks train, rank 0 writes, one process resumes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from i2i.plugins import get_modality

    run = tmp_path / "run"
    sets = [arg for s in [*CYCLE, "train.steps=2", "train.checkpoint_every=2"] for arg in ("--set", s)]
    cmd = [str(Path(sys.executable).parent / "i2i-train"), "--plugin", "unpaired", "--data", str(cycle_data),
           "--out", str(run), "--quiet", "--nproc", "2", *sets]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = ckpt.load_state(ckpt.list_states(run)[-1])
    assert state["step"] == 2 and state["world_size"] == 2 and {"d_a", "d_b", "opt_g", "opt_d"} <= set(state)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # rank 0 alone logs
    modality = get_modality("unpaired")
    resumed = Trainer(
        load_config(modality, sets=[*CYCLE, "train.steps=3"]), modality, cycle_data, run, progress=False
    )
    resumed.fit(resume=True)
    assert resumed.step == 3
