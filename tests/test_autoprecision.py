"""`precision: auto` by measurement: the fastest candidate wins by a margin, failures are skipped,
answers are cached per machine and model shape, timings are logged, RNG state is left alone."""

from __future__ import annotations

import json
import logging
import random

import numpy as np
import pytest
import torch

from i2i.engine import autoprecision, device
from i2i.engine.autoprecision import (
    choose_precision,
    measure_step,
    precision_cache_key,
    preserved_rng,
)
from i2i.engine.device import precision_candidates, select_precision

CPU = torch.device("cpu")
FP32 = select_precision("fp32", CPU)
BF16 = select_precision("bf16", CPU)


class FakeSteps:
    """A time_step with fixed seconds per precision name; a value that is an exception is raised."""

    def __init__(self, **seconds):
        self.seconds = seconds
        self.calls: list[str] = []

    def __call__(self, precision):
        self.calls.append(precision.name)
        value = self.seconds[precision.name]
        if isinstance(value, BaseException):
            raise value
        return value


def test_a_faster_candidate_wins_and_the_timings_are_logged(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="i2i.train.precision")
    steps = FakeSteps(fp32=0.62, bf16=0.31)
    chosen, timings = choose_precision([FP32, BF16], steps, "k", cache_path=tmp_path / "p.json")
    assert chosen is BF16 and timings == {"fp32": 0.62, "bf16": 0.31} and steps.calls == ["fp32", "bf16"]
    assert "precision auto: bf16 (measured" in caplog.text and "fp32 620.0 ms/step" in caplog.text
    # the case of the issue: bf16 at half the fp32 speed must lose
    slow = FakeSteps(fp32=0.31, bf16=0.62)
    assert choose_precision([FP32, BF16], slow, "k2", cache_path=tmp_path / "p.json")[0] is FP32


def test_noise_does_not_move_a_run_off_fp32(tmp_path):
    steps = FakeSteps(fp32=1.00, bf16=0.97)  # 3% faster: within the 5% margin
    assert choose_precision([FP32, BF16], steps, "k", cache_path=tmp_path / "p.json")[0] is FP32
    steps = FakeSteps(fp32=1.00, bf16=0.90)
    assert choose_precision([FP32, BF16], steps, "k", cache_path=tmp_path / "q.json")[0] is BF16


def test_a_cached_choice_is_reused_without_timing(tmp_path, caplog):
    cache = tmp_path / "cache" / "precision.json"
    first = FakeSteps(fp32=0.5, bf16=0.2)
    choose_precision([FP32, BF16], first, "key", cache_path=cache)
    stored = json.loads(cache.read_text())
    assert stored["entries"]["key"]["choice"] == "bf16" and stored["entries"]["key"]["timings"]["fp32"] == 0.5
    caplog.set_level(logging.INFO, logger="i2i.train.precision")
    again = FakeSteps(fp32=0.1, bf16=0.9)  # would choose fp32 if it were asked
    chosen, timings = choose_precision([FP32, BF16], again, "key", cache_path=cache)
    assert chosen is BF16 and timings == {"fp32": 0.5, "bf16": 0.2} and again.calls == []
    assert "(cached for key" in caplog.text
    # refresh re-measures; another key measures; a cached name that is no longer a candidate too
    assert choose_precision([FP32, BF16], again, "key", cache_path=cache, refresh=True)[0] is FP32
    assert choose_precision([FP32, BF16], FakeSteps(fp32=1, bf16=2), "other", cache_path=cache)[0] is FP32
    only = FakeSteps(fp32=0.3)
    assert choose_precision([FP32], only, "other-only", cache_path=cache)[0] is FP32
    json.loads(cache.read_text())["entries"]["other-only"]  # entries accumulate
    cache.write_text('{"version": 1, "entries": {"bad": {"choice": "fp8"}}}')
    probe = FakeSteps(fp32=0.3, bf16=0.1)
    assert choose_precision([FP32, BF16], probe, "bad", cache_path=cache)[0] is BF16 and probe.calls
    cache.write_text("{ torn")
    assert choose_precision([FP32, BF16], FakeSteps(fp32=0.3, bf16=0.4), "x", cache_path=cache)[0] is FP32


def test_a_candidate_that_raises_is_skipped(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="i2i.train.precision")
    steps = FakeSteps(fp32=0.5, bf16=RuntimeError('"slow_conv2d" not implemented\nfor BFloat16'))
    chosen, timings = choose_precision([FP32, BF16], steps, "k", cache_path=tmp_path / "p.json")
    assert chosen is FP32 and timings == {"fp32": 0.5}
    assert 'bf16 skipped ("slow_conv2d" not implemented for BFloat16)' in caplog.text
    nan = FakeSteps(fp32=0.5, bf16=float("nan"))
    assert choose_precision([FP32, BF16], nan, "n", cache_path=tmp_path / "p.json") == (FP32, {"fp32": 0.5})
    # the first failing is fine when a later one works; all failing raises the first error
    assert (
        choose_precision(
            [FP32, BF16], FakeSteps(fp32=MemoryError("oom"), bf16=0.4), "m", cache_path=tmp_path / "p.json"
        )[0]
        is BF16
    )
    with pytest.raises(ValueError, match="first"):
        choose_precision(
            [FP32, BF16],
            FakeSteps(fp32=ValueError("first"), bf16=ValueError("second")),
            "z",
            cache_path=tmp_path / "p.json",
        )
    assert "z" not in json.loads((tmp_path / "p.json").read_text())["entries"]  # a failure is not cached


def test_the_cache_key_changes_with_model_shape_and_machine(monkeypatch):
    model = {"generator": {"name": "unet", "ngf": 64}, "discriminator": {"name": "patchgan"}}
    key = precision_cache_key(CPU, model, {"target": (1, 3, 256, 256)})
    assert key == precision_cache_key(CPU, dict(reversed(model.items())), {"target": [1, 3, 256, 256]})
    assert key != precision_cache_key(CPU, model, {"target": (1, 3, 64, 64)})
    assert key != precision_cache_key(CPU, model, {"target": (8, 3, 256, 256)})
    assert key != precision_cache_key(
        CPU, {**model, "generator": {"name": "unet", "ngf": 32}}, {"target": (1, 3, 256, 256)}
    )
    assert torch.__version__ in key and "threads" in key
    monkeypatch.setattr(autoprecision, "machine_name", lambda d: "cpu:another chip x2 threads")
    assert key != precision_cache_key(CPU, model, {"target": (1, 3, 256, 256)})


def test_the_cache_defaults_to_the_user_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    choose_precision([FP32], FakeSteps(fp32=0.2), "k")
    assert (tmp_path / "i2i" / "precision.json").is_file()


def test_candidates_follow_the_hardware(monkeypatch):
    monkeypatch.setattr(device, "_cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert [p.name for p in precision_candidates(CPU)] == ["fp32", "bf16"]
    monkeypatch.setattr(device, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert [p.name for p in precision_candidates(CPU)] == ["fp32", "bf16"]
    monkeypatch.setattr(device, "_cpu_flags", lambda: {"avx2"})  # emulated bf16: not worth timing
    assert [p.name for p in precision_candidates(CPU)] == ["fp32"]


def test_measure_step_times_after_warmup_and_rng_is_preserved():
    calls = []
    seconds = measure_step(lambda: calls.append(1), steps=3, warmup=2)
    assert len(calls) == 5 and 0 <= seconds < 0.1
    with pytest.raises(ValueError):
        measure_step(lambda: None, steps=0)
    before = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(5), random.seed(5), np.random.seed(5)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(5), random.seed(5), np.random.seed(5)
    with preserved_rng():
        torch.nn.Dropout(0.5)(torch.ones(100)), torch.randn(10), random.random(), np.random.rand()
    got = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:] and not torch.equal(got[0], before[0])


def test_a_real_model_is_timed_on_a_copy_and_training_is_unaffected(tmp_path):
    """How the trainer is meant to call it: copies, a fresh optimiser, one batch, preserved RNG."""
    import copy

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.Dropout(0.2)
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    batch = torch.randn(2, 3, 16, 16)
    state = copy.deepcopy(net.state_dict())

    def time_step(precision):
        twin = copy.deepcopy(net)
        twin_opt = torch.optim.Adam(twin.parameters(), 1e-3)

        def step():
            with precision.autocast(CPU):
                loss = twin(batch).float().square().mean()
            twin_opt.zero_grad()
            loss.backward()
            twin_opt.step()

        with preserved_rng():
            return measure_step(step, steps=2, warmup=1)

    torch.manual_seed(1)
    expected_draw = torch.rand(4)
    torch.manual_seed(1)
    chosen, timings = choose_precision([FP32, BF16], time_step, "real", cache_path=tmp_path / "p.json")
    assert chosen.name in timings and set(timings) <= {"fp32", "bf16"} and timings["fp32"] > 0
    assert torch.equal(torch.rand(4), expected_draw)  # the training's next random draw is unchanged
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k  # weights and batch-norm statistics untouched
    assert not opt.state  # the real optimiser never stepped
