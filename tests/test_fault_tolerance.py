"""SIGKILL at random moments of a training run (no handler runs, nothing is flushed): `--resume`
continues from the last checkpoint and ends on the very weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from i2i.engine import checkpoint as ckpt

from tiny import TINY

BIN = Path(sys.executable).parent
STEPS = 16
SETS = [
    *TINY,
    f"train.steps={STEPS}",
    "train.checkpoint_every=2",
    "train.sample_every=5",
    "train.deterministic=true",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _train(data: Path, run: Path, resume: bool = False) -> subprocess.Popen:
    cmd = [str(BIN / "i2i-train"), "--plugin", "img2img", "--data", str(data), "--out", str(run), "--quiet"]
    cmd += [arg for s in SETS for arg in ("--set", s)] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _final(run: Path) -> dict[str, torch.Tensor]:
    state = ckpt.load_state(ckpt.list_states(run)[-1])
    assert state["step"] == STEPS
    flat = {}
    for part in ("generator", "discriminator", "conditioner"):
        flat.update({f"{part}.{k}": v for k, v in state[part].items()})
    for part in ("opt_g", "opt_d"):
        for index, slots in state[part]["state"].items():
            flat.update({f"{part}.{index}.{k}": v for k, v in slots.items() if isinstance(v, torch.Tensor)})
    return flat


@pytest.fixture(scope="module")
def reference(demo_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    _finish(_train(demo_data, run))
    return _final(run)


def _steps_logged(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_and_resume(demo_data: Path, run: Path, rng: random.Random, reference: dict) -> None:
    proc = _train(demo_data, run)
    deadline = time.time() + 120
    while _steps_logged(run) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    started, first = time.time(), _steps_logged(run)
    while _steps_logged(run) < first + 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    per_step = (time.time() - started) / 2
    # anywhere in the rest of the run: mid-step, mid-checkpoint, mid-sample
    time.sleep(rng.uniform(0.0, per_step * (STEPS - first - 4)))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill: nothing was tested"
    assert _steps_logged(run) < STEPS
    _finish(_train(demo_data, run, resume=True))
    got = _final(run)
    assert got.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(value, got[key]), f"{key} differs from the uninterrupted run"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1)), "metrics should list every step once"


@pytest.mark.parametrize("trial", range(2))
def test_sigkill_then_resume_gives_the_uninterrupted_weights(demo_data, tmp_path, reference, trial):
    _kill_and_resume(demo_data, tmp_path / "run", random.Random(trial), reference)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(2, 12))
def test_sigkill_at_random_moments_many_trials(demo_data, tmp_path, reference, trial):
    _kill_and_resume(demo_data, tmp_path / "run", random.Random(trial), reference)
