"""The shared engine: checkpoints, exact resume, loss variants, EMA, accumulation, reports."""

from __future__ import annotations

import json

import pytest
import torch

from i2i.config import load_config
from i2i.engine import checkpoint as ckpt
from i2i.engine.trainer import Trainer, lr_factor
from i2i.errors import InputError
from i2i.plugins import get_modality

from tiny import TINY


def _trainer(demo_data, run_dir, *extra):
    modality = get_modality("img2img")
    cfg = load_config(modality, sets=[*TINY, *extra])
    return Trainer(cfg, modality, demo_data, run_dir, progress=False)


def test_state_round_trip_without_pickle(tmp_path):
    state = {
        "step": 3,
        "nested": {"a": torch.arange(4.0), 1: [torch.ones(2, dtype=torch.int64), (1, 2.5, None, "x")]},
    }
    path = tmp_path / "s.safetensors"
    ckpt.save_state(path, state)
    back = ckpt.load_state(path)
    assert back["step"] == 3
    assert torch.equal(back["nested"]["a"], state["nested"]["a"])
    assert torch.equal(back["nested"][1][0], state["nested"][1][0])
    assert back["nested"][1][1] == (1, 2.5, None, "x")


def test_atomic_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    ckpt.save_state(path, {"v": torch.zeros(3)})
    before = path.read_bytes()

    def explode(fh, *args, **kwargs):
        fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "_write_streaming", explode)
    with pytest.raises(OSError):
        ckpt.save_state(path, {"v": torch.ones(3)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_torn_and_foreign_files_are_input_errors(tmp_path):
    torn = tmp_path / "torn.safetensors"
    ckpt.save_state(torn, {"v": torch.zeros(1000)})
    torn.write_bytes(torn.read_bytes()[:-100])
    with pytest.raises(InputError, match="torn.safetensors"):
        ckpt.load_state(torn)
    text = tmp_path / "x.safetensors"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a safetensors file"):
        ckpt.read_metadata(text)


def test_lr_schedule_is_constant_then_linear():
    assert lr_factor(0, 100, 0.5) == 1.0 and lr_factor(50, 100, 0.5) == 1.0
    assert lr_factor(99, 100, 0.5) == pytest.approx(1 - 49 / 51)
    assert lr_factor(75, 100, 0.5) < lr_factor(60, 100, 0.5)


def test_resume_continues_bit_identically(demo_data, tmp_path, sigint_default):
    """Ctrl-C during step 4 finishes step 4 and saves it; --resume then ends exactly where an
    uninterrupted run ends (tests/test_stops.py: the signal after D's update, SIGTERM too)."""
    import os
    import signal

    straight = _trainer(demo_data, tmp_path / "a", "train.steps=6")
    straight.fit()
    first = _trainer(demo_data, tmp_path / "b", "train.steps=6", "train.checkpoint_every=100")
    real_step = first.train_step

    def interrupted(micro):
        if first.step == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(micro)

    first.train_step = interrupted
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    assert [p.name for p in ckpt.list_states(tmp_path / "b")] == ["state-00000004.safetensors"]
    second = _trainer(demo_data, tmp_path / "b", "train.steps=6", "train.checkpoint_every=100")
    second.fit(resume=True)
    a, b = straight.state(), second.state()
    for part in ("generator", "discriminator"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key} differs after resume"
    assert a["opt_g"]["state"][0]["step"] == b["opt_g"]["state"][0]["step"]


def _flip_a_data_byte(path):
    """A bit flip inside the tensor data: the file still parses, only the digest can tell."""
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x10
    path.write_bytes(bytes(raw))


def test_a_corrupted_state_is_detected_and_resume_falls_back_to_the_one_before(demo_data, tmp_path, caplog):
    straight = _trainer(demo_data, tmp_path / "a", "train.steps=6")
    straight.fit()
    run = tmp_path / "b"
    _trainer(demo_data, run, "train.steps=6", "train.keep_last=2").fit()
    newest = ckpt.list_states(run)[-1]
    assert newest.name == "state-00000006.safetensors"
    _flip_a_data_byte(newest)
    with pytest.raises(InputError, match="checksum does not match"):
        ckpt.load_state(newest)
    resumed = _trainer(demo_data, run, "train.steps=6", "train.keep_last=2")
    with caplog.at_level("WARNING", logger="i2i.train"):
        assert resumed.resume()
    assert resumed.step == 3
    assert "state-00000006.safetensors" in caplog.text and "checksum does not match" in caplog.text
    resumed.fit(resume=True)
    a, b = straight.state(), resumed.state()
    for key, value in a["generator"].items():
        assert torch.equal(value, b["generator"][key]), key


def test_run_directory_contents(demo_data, tmp_path):
    run = tmp_path / "run"
    _trainer(demo_data, run, "train.steps=3", "train.keep_last=1", "train.checkpoint_every=1").fit()
    assert (run / "config.yaml").exists() and (run / "report.html").exists()
    assert [p.name for p in ckpt.list_states(run)] == ["state-00000003.safetensors"]  # keep-last-N
    meta = ckpt.read_metadata(run / "model.safetensors")
    assert meta["plugin"] == "img2img" and json.loads(meta["config"])["train"]["steps"] == 3
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and all("g_l1" in r and "d_adversarial" in r for r in rows)
    html = (run / "report.html").read_text()
    assert "<svg" in html and "data:image/png;base64" in html


@pytest.mark.parametrize(
    "extra",
    [
        ("loss.gan=hinge", "loss.generator.feature_matching=10", "ema.decay=0.9"),
        ("loss.gan=lsgan", "loss.r1=1.0", "train.grad_accum=2"),  # the old key (migrated)
        ("loss.discriminator.r1={weight: 1.0, every: 2}", "train.steps=3"),
        ("train.precision=bf16", "train.channels_last=false"),
    ],
)
def test_engine_variants_train_and_report_their_terms(demo_data, tmp_path, extra):
    trainer = _trainer(demo_data, tmp_path / "run", "train.steps=2", *extra)
    before = {k: v.detach().clone() for k, v in trainer.generator.named_parameters()}
    trainer.fit()
    after = trainer.generator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "generator did not change"
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert all(torch.isfinite(torch.tensor(v)) for k, v in row.items() if k != "step")
    if "loss.generator.feature_matching=10" in extra:
        assert row["g_feature_matching"] > 0
        ema = trainer.ema.module.state_dict()
        assert any(not torch.equal(ema[k], after[k]) for k in ema if ema[k].is_floating_point())
    if "loss.r1=1.0" in extra:
        assert row["d_r1"] >= 0
    if "train.steps=3" in extra:  # lazy: on steps 0 and 2 of 3, with twice the weight
        rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
        assert ["d_r1" in r for r in rows] == [True, False, True], rows


def test_saved_files_get_normal_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        ckpt.atomic_save_tensors(tmp_path / "m.safetensors", {"w": torch.zeros(2)}, {})
    finally:
        os.umask(old)
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_a_second_trainer_on_a_live_run_directory_refuses_and_a_dead_ones_lock_is_taken_over(
    demo_data, tmp_path, caplog
):
    import os
    import socket
    import subprocess
    import sys

    from i2i.engine.lock import this_process
    from i2i.errors import I2IError

    run = tmp_path / "run"
    run.mkdir()
    lock = run / "train.lock"
    lock.write_text(this_process().to_json())  # a live owner: this very process
    with pytest.raises(I2IError, match=f"in use by another training \\(pid {os.getpid()} "):
        _trainer(demo_data, run, "train.steps=1").fit()
    assert not (run / "config.yaml").exists() and lock.exists()  # nothing of the live run touched
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    lock.write_text(f"{gone.stdout.strip()}@{socket.gethostname()}\n")  # its process has exited
    _trainer(demo_data, run, "train.steps=1").fit()
    assert "taking over" in caplog.text and (run / "model.safetensors").exists()
    assert not lock.exists()  # released at the end


def test_nonfinite_losses_skip_the_update_and_too_many_in_a_row_stop_the_run(
    demo_data, tmp_path, monkeypatch
):
    from i2i import losses
    from i2i.errors import I2IError

    real_g_loss = losses.g_loss
    poisoned = {"on": False}

    def g_loss(kind, outputs):
        value = real_g_loss(kind, outputs)
        return value * float("nan") if poisoned["on"] else value

    monkeypatch.setattr(losses, "g_loss", g_loss)
    trainer = _trainer(
        demo_data, tmp_path / "run", "train.steps=6", "train.checkpoint_every=2", "train.max_nonfinite=3"
    )
    batches = trainer._batches()
    trainer.train_step([next(batches)])
    before = {k: v.detach().clone() for k, v in trainer.generator.named_parameters()}
    poisoned["on"] = True
    stats = trainer.train_step([next(batches)])
    assert stats["skipped_g"] == 1.0 and "skipped_d" not in stats, stats
    after = dict(trainer.generator.named_parameters())
    assert all(torch.equal(before[k], after[k]) for k in before)  # the NaN step updated no weight
    assert all(torch.isfinite(p).all() for p in trainer.generator.parameters())
    # a whole run: 2 good steps (checkpoint at 2), then NaN from step 3 on -> stops after 3 in a row
    poisoned["on"] = False
    run = _trainer(
        demo_data, tmp_path / "run2", "train.steps=10", "train.checkpoint_every=2", "train.max_nonfinite=3"
    )
    real_step = run.train_step

    def step(micro):
        poisoned["on"] = run.step >= 2
        return real_step(micro)

    run.train_step = step
    with pytest.raises(I2IError, match=r"diverged: 3 steps in a row .* last good checkpoint: state-00000002"):
        run.fit()
    assert [p.name for p in ckpt.list_states(tmp_path / "run2")] == ["state-00000002.safetensors"]
    assert not (tmp_path / "run2" / "train.lock").exists()


def test_vgg_loss_reads_local_torchvision_weights_or_says_how_to_get_them(demo_data, tmp_path, monkeypatch):
    from torchvision.models.vgg import cfgs, make_layers

    from i2i.errors import ConfigError
    from i2i.nets.vgg import WEIGHTS_FILE, load_vgg_loss

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ConfigError, match=f"{WEIGHTS_FILE} \\(not there.*or set loss.generator.vgg=0"):
        _trainer(demo_data, tmp_path / "run", "train.steps=1", "loss.vgg=1.0")
    # stand-in weights with torchvision's key layout (random: this tests loading and the loss, not ImageNet)
    torch.manual_seed(0)
    state = {f"features.{k}": v.half() for k, v in make_layers(cfgs["E"]).state_dict().items()}
    target = tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS_FILE
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    vgg = load_vgg_loss()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert vgg(x, x).item() == 0 and vgg(x, x.flip(-1)).item() > 0
    trainer = _trainer(demo_data, tmp_path / "run", "train.steps=1", "loss.vgg=1.0")
    stats = trainer.train_step([next(trainer._batches())])
    vgg = next(t.term for t in trainer.recipe.g_terms if t.name == "vgg")
    assert stats["g_vgg"] > 0 and not any(p.requires_grad for p in vgg.parameters())
    target.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not usable VGG19 weights"):
        load_vgg_loss()


def test_a_torn_sample_image_does_not_break_the_report(tmp_path):
    """A kill during a sample write (before samples were written atomically) left a truncated PNG,
    and the resumed run then crashed rebuilding report.html (seen once in CI-like runs)."""
    from PIL import Image

    from i2i.engine.report import RunLog

    log = RunLog(tmp_path, tensorboard=False)
    log.sample(1, Image.new("RGB", (8, 8), "red"))
    good = (tmp_path / "samples" / "step-00000001.png").read_bytes()
    (tmp_path / "samples" / "step-00000002.png").write_bytes(good[: len(good) // 2])
    log.scalars(2, {"g_l1": 0.5})
    html = log.write_report("t", "a: 1").read_text()
    assert html.count("<figure>") == 1 and "step 1" in html
    assert not list((tmp_path / "samples").glob(".*tmp"))  # no temporary files left behind


def test_model_fp16_halves_the_model_file_and_loads_into_float32(demo_data, tmp_path):
    from safetensors import safe_open

    from i2i.pipeline import load_pipeline

    trainer = _trainer(demo_data, tmp_path / "run", "train.steps=1", "train.model_fp16=true")
    trainer.fit()
    full = tmp_path / "full.safetensors"
    ckpt.save_model(
        full, trainer.config.to_json(), {"generator": trainer.export_generator()}, {"plugin": "img2img"}
    )
    half = tmp_path / "run" / "model.safetensors"
    with safe_open(str(half), "pt") as f:
        names = f.keys()
        tensors = [f.get_tensor(k) for k in names]
    assert {t.dtype for t in tensors if t.is_floating_point()} == {torch.float16}
    assert half.stat().st_size < 0.6 * full.stat().st_size
    pipe = load_pipeline(half)
    assert next(pipe.generator.parameters()).dtype == torch.float32
    x = {"input": torch.rand(1, 3, 32, 32) * 2 - 1}
    assert torch.allclose(pipe.generate(x, seed=0), load_pipeline(full).generate(x, seed=0), atol=2e-2)


def test_auto_precision_is_bf16_only_on_cpus_that_multiply_bf16_in_hardware(monkeypatch):
    from i2i.engine import device

    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_has_amx_bf16", lambda: True)
    assert device.select_precision("auto", cpu).name == "bf16"
    monkeypatch.setattr(device, "cpu_has_amx_bf16", lambda: False)
    assert device.select_precision("auto", cpu).name == "fp32"  # emulated bf16 is 40x slower
    assert device.select_precision("fp32", cpu).dtype is None
