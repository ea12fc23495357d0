"""Two CPU processes under torchrun (gloo): DDP keeps the ranks identical, and their result is the
single-process run with the same global batch; rank 0 alone writes; a run resumes under another
world size from the same position in the data."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import default_collate

from i2i.config import load_config
from i2i.engine import checkpoint as ckpt
from i2i.engine.trainer import Trainer
from i2i.plugins import get_modality

from tiny import TINY

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
# batch statistics and dropout would make per-rank batches differ from one big batch by design
EXACT = [
    "model.generator.norm=instance",
    "model.discriminator.norm=instance",
    "model.generator.dropout=false",
    "train.precision=fp32",  # equal to a tolerance is an fp32 property: bf16 rounds each batch its own way
]
STEPS = "train.steps=4"


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_ranks_stay_identical_and_equal_one_process_with_the_same_global_batch(demo_data, tmp_path):
    _torchrun(str(HERE / "ddp_worker.py"), str(demo_data), str(tmp_path), *EXACT, STEPS, "train.batch_size=1")
    rank0, rank1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), f"{key} differs between ranks"

    modality = get_modality("img2img")
    config = load_config(modality, sets=[*TINY, *EXACT, STEPS, "train.batch_size=2"])
    single = Trainer(config, modality, demo_data, tmp_path / "single", progress=False)
    initial = copy.deepcopy(single.generator)
    single.fit()
    # Compared as functions: a conv bias in front of instance norm has a zero true gradient, which
    # Adam turns into lr-sized steps of rounding noise, different in every summation order.
    batch = default_collate([single.sample_set[i] for i in range(2)])
    for name in ("generator", "discriminator"):
        net = getattr(single, name).eval()
        twin = copy.deepcopy(net)
        twin.load_state_dict({k.split(".", 1)[1]: v for k, v in rank0.items() if k.startswith(name + ".")})
        with torch.no_grad():
            cond = single.conditioner(batch)
            if name == "generator":
                ours, theirs, start = net(cond, None), twin(cond, None), initial.eval()(cond, None)
                moved = (ours - start).abs().max()
            else:
                ours, theirs = net(batch["target"], cond)[0].logits, twin(batch["target"], cond)[0].logits
        gap = (ours - theirs).abs().max()
        assert gap < 2e-3, f"{name}: two ranks of batch 1 differ from one process of batch 2 by {gap}"
    assert moved > 20 * 2e-3, f"training barely moved the generator ({moved})"

    # rank 0 alone wrote the run (one metrics row per step, not two)
    run = tmp_path / "run"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4
    assert [p.name for p in ckpt.list_states(run)] == [
        "state-00000003.safetensors",
        "state-00000004.safetensors",
    ]


def test_i2i_train_nproc_then_resume_under_one_process(demo_data, tmp_path):
    run = tmp_path / "run"
    sets = [arg for s in [*TINY, "train.steps=2", "train.checkpoint_every=2"] for arg in ("--set", s)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(BIN / "i2i-train"), "--plugin", "img2img", "--data", str(demo_data), "--out", str(run),
           "--quiet", "--nproc", "2", *sets]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = ckpt.load_state(ckpt.list_states(run)[-1])
    assert state["step"] == 2 and state["world_size"] == 2
    assert state["position"] == 2 * 2 * 2  # steps x ranks x batch
    modality = get_modality("img2img")
    config = load_config(modality, sets=[*TINY, "train.steps=3"])
    resumed = Trainer(config, modality, demo_data, run, progress=False)
    resumed.fit(resume=True)
    assert resumed.step == 3 and resumed.position == 8 + 2  # one more single-process batch of 2


@pytest.mark.parametrize("flag", ["--nproc=0", "--nproc=-1"])
def test_a_bad_process_count_is_a_usage_error(demo_data, tmp_path, flag):
    proc = subprocess.run(
        [str(BIN / "i2i-train"), "--plugin", "img2img", "--data", str(demo_data), "--out", str(tmp_path / "r"), flag],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
