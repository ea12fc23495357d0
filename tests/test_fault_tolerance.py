"""SIGKILL at random moments of a training run (no handler runs, nothing is flushed): `--resume`
continues from the last checkpoint and ends on the very weights of an uninterrupted run, for every
recipe: paired (img2img) and cycle (the unpaired plugin's CycleGAN, whose image pools are recipe
state saved in the run state). The same for SIGTERM (schedulers, SLURM preemption) and SIGINT
(Ctrl-C) at random moments: the step in progress finishes and is saved, the exit status is
128 + the signal, and resume is bit-exact. (The same stops at a chosen moment inside a step, in
process and fast: tests/test_stops.py.)"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from i2i.engine import checkpoint as ckpt

from tiny import TINY, TINY_CYCLE

BIN = Path(sys.executable).parent
STEPS = 16
SETS = [
    f"train.steps={STEPS}",
    "train.checkpoint_every=2",
    "train.sample_every=5",
    "train.deterministic=true",
]
# recipe -> (plugin, its --set overrides, the networks of its run state)
CASES = {
    "paired": ("img2img", [*TINY, *SETS], ("generator", "discriminator", "conditioner")),
    "cycle": (
        "unpaired",
        [*TINY_CYCLE, *SETS, "cycle.pool_size=3"],
        ("generator", "d_a", "d_b", "conditioner"),
    ),
}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Case:
    plugin: str
    data: Path
    sets: list[str]
    networks: tuple[str, ...]
    reference: dict[str, torch.Tensor]


def _train(case: Case, run: Path, resume: bool = False) -> subprocess.Popen:
    cmd = [
        str(BIN / "i2i-train"),
        "--plugin",
        case.plugin,
        "--data",
        str(case.data),
        "--out",
        str(run),
        "--quiet",
    ]
    cmd += [arg for s in case.sets for arg in ("--set", s)] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _tensors(obj: object, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """Every tensor of a nested recipe state (lists and dicts), by path."""
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _tensors(v, f"{prefix}.{k}", out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _tensors(v, f"{prefix}.{i}", out)


def _final(run: Path, networks: tuple[str, ...]) -> dict[str, torch.Tensor]:
    state = ckpt.load_state(ckpt.list_states(run)[-1])
    assert state["step"] == STEPS
    flat = {}
    for part in networks:
        flat.update({f"{part}.{k}": v for k, v in state[part].items()})
    for part in ("opt_g", "opt_d"):
        for index, slots in state[part]["state"].items():
            flat.update({f"{part}.{index}.{k}": v for k, v in slots.items() if isinstance(v, torch.Tensor)})
    _tensors(state.get("recipe") or {}, "recipe", flat)  # e.g. the cycle recipe's image pools
    return flat


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, demo_data, tmp_path_factory) -> Case:
    """One recipe's data and the final state of its uninterrupted run."""
    plugin, sets, networks = CASES[request.param]
    data = demo_data
    if plugin == "unpaired":
        from i2i_unpaired.demo import write_demo

        data = tmp_path_factory.mktemp("day2night")
        write_demo(data, n=16, seed=0, size=32)
    run = tmp_path_factory.mktemp(f"uninterrupted-{request.param}") / "run"
    case = Case(plugin, data, sets, networks, {})
    _finish(_train(case, run))
    reference = _final(run, networks)
    if plugin == "unpaired":
        assert len(reference) > sum(k.startswith("recipe.") for k in reference) > 0, "no pools were saved"
    return Case(plugin, data, sets, networks, reference)


def _steps_logged(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_and_resume(case: Case, run: Path, rng: random.Random, signum: int = signal.SIGKILL) -> None:
    proc = _train(case, run)
    deadline = time.time() + 120
    while _steps_logged(run) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    started, first = time.time(), _steps_logged(run)
    while _steps_logged(run) < first + 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    per_step = (time.time() - started) / 2
    # anywhere in the rest of the run: mid-step, mid-checkpoint, mid-sample
    time.sleep(rng.uniform(0.0, per_step * (STEPS - first - 4)))
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL, "the run ended before the kill: nothing was tested"
    else:  # the step in progress ran to its end, was logged and saved
        assert proc.returncode == 128 + signum, err
        assert ckpt.state_step(ckpt.list_states(run)[-1]) == _steps_logged(run)
    assert _steps_logged(run) < STEPS, "the run ended before the signal: nothing was tested"
    _finish(_train(case, run, resume=True))
    got = _final(run, case.networks)
    assert got.keys() == case.reference.keys()
    for key, value in case.reference.items():
        assert torch.equal(value, got[key]), f"{key} differs from the uninterrupted run"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1)), "metrics should list every step once"


@pytest.mark.parametrize("trial", range(2))
def test_sigkill_then_resume_gives_the_uninterrupted_weights(case, tmp_path, trial):
    _kill_and_resume(case, tmp_path / "run", random.Random(trial))


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(2, 12))
def test_sigkill_at_random_moments_many_trials(case, tmp_path, trial):
    _kill_and_resume(case, tmp_path / "run", random.Random(trial))


STOPS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_sigterm_or_ctrl_c_then_resume_gives_the_uninterrupted_weights(case, tmp_path, stop, sigint_default):
    """`sigint_default`: the child inherits SIGINT not ignored, even under a background test run."""
    _kill_and_resume(case, tmp_path / "run", random.Random(100), STOPS[stop])


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(101, 106))
@pytest.mark.parametrize("stop", sorted(STOPS))
def test_sigterm_or_ctrl_c_at_random_moments_many_trials(case, tmp_path, stop, trial, sigint_default):
    _kill_and_resume(case, tmp_path / "run", random.Random(trial), STOPS[stop])
