"""Every way a training run can stop, and what it leaves: nothing lost, nothing torn.

- SIGTERM / Ctrl-C in the middle of a step (right after D's update, before the step counter
  moves) finishes that step, saves it, and the saved state is the uninterrupted run's state of
  that step; resume ends bit-exact. A second signal aborts at once, leaving no torn file.
- `--resume` into a run whose states all fail to load (corrupt, edited metadata, another config)
  or that has a model file and no state refuses with one line and changes nothing; a run killed
  before its first checkpoint starts over.
- Pruning and the model file go by the step each file records, never backwards.
- The run lock knows boot id, pid and start time: a live other process is refused, a reused pid
  (container restarted after an OOM kill: same host, pid 1 again) is taken over.
- Checksums cover the metadata; older files (tensors-only digests) still load.
- Temporary files never follow a symlink planted in a shared --out; renames are made durable by
  fsyncing the folder.

(Signals sent from outside at random moments, through i2i-train: tests/test_fault_tolerance.py.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from i2i.config import load_config
from i2i.engine import checkpoint as ckpt
from i2i.engine.lock import Owner, RunLock, boot_id, start_time, this_process
from i2i.engine.recipe import RecipeContext
from i2i.engine.stop import TrainingStopped
from i2i.engine.trainer import Trainer
from i2i.errors import I2IError, InputError
from i2i.plugins import get_modality

from tiny import TINY

BIN = Path(sys.executable).parent
STEPS = 6
SETS = [*TINY, f"train.steps={STEPS}", "train.precision=fp32"]


def _trainer(data: Path, run: Path, *extra: str) -> Trainer:
    modality = get_modality("img2img")
    return Trainer(load_config(modality, sets=[*SETS, *extra]), modality, data, run, progress=False)


def _flat(obj: object, prefix: str = "") -> dict[str, object]:
    """Every leaf of a run state by path (tensors and numbers)."""
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _flat(value, f"{prefix}.{key}").items()}
    if isinstance(obj, (list, tuple)):
        return {k: v for i, value in enumerate(obj) for k, v in _flat(value, f"{prefix}.{i}").items()}
    return {prefix: obj}


def _assert_same(a: dict, b: dict, skip: tuple[str, ...] = ()) -> None:
    fa, fb = _flat(a), _flat(b)
    assert fa.keys() == fb.keys()
    for key, value in fa.items():
        if key.startswith(skip):
            continue
        other = fb[key]
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, other), f"{key} differs"
        else:
            assert value == other, f"{key}: {value!r} != {other!r}"


def _newest(run: Path) -> dict:
    return ckpt.load_state(ckpt.list_states(run)[-1])


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def straight(demo_data, tmp_path_factory) -> Path:
    """An uninterrupted run with a run state of every step."""
    run = tmp_path_factory.mktemp("straight") / "run"
    _trainer(demo_data, run, "train.checkpoint_every=1", f"train.keep_last={STEPS}").fit()
    return run


@pytest.fixture
def signal_after_d(monkeypatch):
    """`send(step, signum)`: the signal arrives right after the first optimiser of that step
    (D) has been applied, the moment where a save would have stored D updated, step not advanced."""
    real_apply = RecipeContext.apply
    plan: dict[str, int] = {}

    def apply(self, name, finite, stats):
        applied = real_apply(self, name, finite, stats)
        if plan and self.step == plan["step"] - 1:
            signum = plan.pop("signum")
            plan.clear()
            os.kill(os.getpid(), signum)
        return applied

    monkeypatch.setattr(RecipeContext, "apply", apply)

    def send(step: int, signum: int) -> None:
        plan.update(step=step, signum=signum)

    return send


# ---- stops at step boundaries ---------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_step_saves_that_completed_step_and_resume_is_bit_exact(
    demo_data, straight, tmp_path, signal_after_d, sigint_default, signum
):
    run = tmp_path / "run"
    signal_after_d(3, signum)
    with pytest.raises(TrainingStopped) as stopped:
        _trainer(demo_data, run, "train.checkpoint_every=2").fit()
    assert stopped.value.exit_status == 128 + signum  # 143 / 130, what the CLI exits with
    assert stopped.value.step == 3 and stopped.value.checkpoint == ckpt.state_path(run, 3)
    assert [p.name for p in ckpt.list_states(run)] == [
        "state-00000002.safetensors",
        "state-00000003.safetensors",
    ]
    # the very state an uninterrupted run has after step 3: networks, moments, RNG, data position
    _assert_same(_newest(run), ckpt.load_state(ckpt.state_path(straight, 3)))
    assert ckpt.read_metadata(run / "model.safetensors")["step"] == "3"
    _trainer(demo_data, run, "train.checkpoint_every=2").fit(resume=True)
    _assert_same(_newest(run), _newest(straight), skip=(".rng",))


def test_a_second_signal_aborts_at_once_and_leaves_no_torn_file(
    demo_data, straight, tmp_path, signal_after_d, sigint_default, monkeypatch
):
    """Ctrl-C during step 3, Ctrl-C again while its checkpoint is being written: the write is
    abandoned (temporary file removed), the run keeps the state of step 2, resume is exact."""
    run = tmp_path / "run"
    real_write = ckpt._write_streaming
    calls = {"n": 0}

    def write(fh, tensors, metadata):
        calls["n"] += 1
        if calls["n"] == 3:  # state 2, model 2, then state 3: half of it, and the second Ctrl-C
            fh.write(b"\0" * 4096)
            os.kill(os.getpid(), signal.SIGINT)
        real_write(fh, tensors, metadata)

    monkeypatch.setattr(ckpt, "_write_streaming", write)
    signal_after_d(3, signal.SIGINT)
    with pytest.raises(TrainingStopped) as stopped:
        _trainer(demo_data, run, "train.checkpoint_every=2").fit()
    assert stopped.value.checkpoint is None and stopped.value.exit_status == 130
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["state-00000002.safetensors"]
    assert not [p for p in run.rglob("*.tmp")] and not (run / "train.lock").exists()
    assert ckpt.read_metadata(run / "model.safetensors")["step"] == "2"
    monkeypatch.setattr(ckpt, "_write_streaming", real_write)
    _trainer(demo_data, run, "train.checkpoint_every=2").fit(resume=True)
    _assert_same(_newest(run), _newest(straight), skip=(".rng",))


def test_dataloader_workers_leave_the_stop_signals_to_the_trainer(demo_data, tmp_path):
    from torch.utils.data import get_worker_info

    class Probe(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            assert get_worker_info() is not None
            return torch.tensor([signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
                                 signal.getsignal(signal.SIGTERM) == signal.SIG_IGN])  # fmt: skip

    trainer = _trainer(demo_data, tmp_path / "run", "train.num_workers=1")
    trainer.dataset = Probe()
    assert next(trainer._batches()).all()


# ---- refusing to resume what does not load ------------------------------------------------------
def _edit_metadata(path: Path, edit) -> None:
    """Change a file's header metadata in place, as an editor (or a flipped byte) would; the
    tensors stay where they are."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header["__metadata__"])
    new = json.dumps(header, separators=(",", ":")).encode()
    new += b" " * (-len(new) % 8)
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def _set_step(meta: dict, step: int) -> None:
    meta["step"] = str(step)
    skeleton = json.loads(meta["state"])
    skeleton["__dict__"] = [[k, step if k == "step" else v] for k, v in skeleton["__dict__"]]
    meta["state"] = json.dumps(skeleton)


def _copy_run(src: Path, dst: Path, keep: tuple[int, ...]) -> Path:
    import shutil

    shutil.copytree(src, dst)
    for path in ckpt.list_states(dst):
        if ckpt.state_step(path) not in keep:
            path.unlink()
    return dst


def test_edited_metadata_is_detected_and_resume_falls_back_to_the_state_before(
    demo_data, straight, tmp_path, caplog
):
    run = _copy_run(straight, tmp_path / "run", keep=(5, 6))
    newest = ckpt.state_path(run, 6)
    _edit_metadata(newest, lambda m: _set_step(m, 7))  # the header claims a later step
    with pytest.raises(InputError, match="state-00000006.safetensors: checksum does not match"):
        ckpt.load_state(newest)
    resumed = _trainer(demo_data, run)
    with caplog.at_level("WARNING", logger="i2i.train"):
        assert resumed.resume() and resumed.step == 5
    assert "state-00000006.safetensors" in caplog.text and "checksum does not match" in caplog.text
    model = run / "model.safetensors"  # the model file's config is covered too
    _edit_metadata(model, lambda m: m.update(config=m["config"].replace('"ngf": 8', '"ngf": 9')))
    with pytest.raises(InputError, match="checksum does not match"):
        ckpt.load_model(model)


@pytest.mark.parametrize("damage", ["corrupt", "config"])
def test_resume_refuses_when_no_state_loads_and_changes_nothing(demo_data, straight, tmp_path, damage):
    run = _copy_run(straight, tmp_path / "run", keep=(5, 6))
    extra: tuple[str, ...] = ()
    if damage == "corrupt":
        for path in ckpt.list_states(run):
            _edit_metadata(path, lambda m: m.update(position="0"))
        want = "checksum does not match"
    else:  # a config whose networks the states do not fit
        extra = ("model.generator.ngf=16",)
        want = "size mismatch"
    before = _snapshot(run)
    with pytest.raises(InputError) as refused:
        _trainer(demo_data, run, *extra).fit(resume=True)
    text = str(refused.value)
    assert text.startswith(f"{run}: cannot resume: no run state loads; state-00000006.safetensors")
    assert want in text and "\n" not in text
    assert _snapshot(run) == before  # config.yaml, states, model, metrics: all as they were


def test_resume_refusal_through_the_cli_is_one_line_and_exit_2(demo_data, straight, tmp_path):
    run = _copy_run(straight, tmp_path / "run", keep=(6,))
    (run / "checkpoints" / "state-00000006.safetensors").write_bytes(b"torn")
    before = _snapshot(run)
    proc = subprocess.run(
        [str(BIN / "i2i-train"), "--data", str(demo_data), "--out", str(run), "--resume", "--quiet"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: {run}: cannot resume: no run state loads"), proc.stderr
    assert _snapshot(run) == before


def test_a_model_file_without_run_states_is_refused_and_a_run_without_either_starts_over(
    demo_data, straight, tmp_path, caplog
):
    run = _copy_run(straight, tmp_path / "run", keep=())
    before = _snapshot(run)
    with pytest.raises(InputError, match="cannot resume: it has a model.safetensors but no run state"):
        _trainer(demo_data, run).fit(resume=True)
    assert _snapshot(run) == before
    (run / "model.safetensors").unlink()  # a run killed before its first checkpoint: config.yaml only
    trainer = _trainer(demo_data, run, "train.steps=1")
    with caplog.at_level("WARNING", logger="i2i.train"):
        trainer.fit(resume=True)
    assert "starting from step 0" in caplog.text and trainer.step == 1


# ---- pruning and the model file by step ------------------------------------------------------------
def _tiny_state(run: Path, step: int, name_step: int | None = None) -> Path:
    path = ckpt.state_path(run, step if name_step is None else name_step)
    ckpt.save_state(path, {"step": step, "w": torch.full((2,), float(step))})
    return path


def test_states_are_ordered_and_pruned_by_the_step_they_record(tmp_path):
    run = tmp_path / "run"
    for step in (99_999_999, 100_000_000, 7):  # 9 digits sort before 8 by name
        _tiny_state(run, step)
    _tiny_state(run, 5, name_step=900)  # a copied/renamed file: its name says 900, it holds 5
    assert [ckpt.state_step(p) for p in ckpt.list_states(run)] == [5, 7, 99_999_999, 100_000_000]
    ckpt.prune_states(run, keep_last=2)
    assert [ckpt.state_step(p) for p in ckpt.list_states(run)] == [99_999_999, 100_000_000]


def test_the_state_just_written_is_never_pruned_for_states_claiming_later_steps(tmp_path):
    run = tmp_path / "run"
    stale = [_tiny_state(run, 8), _tiny_state(run, 10)]  # e.g. from a history that did not load
    new = _tiny_state(run, 2)
    assert ckpt.prune_states(run, keep_last=2, keep=new) == [stale[0]]
    assert ckpt.list_states(run) == [new, stale[1]]


def test_a_resumed_run_behind_a_newer_unreadable_state_keeps_its_states_and_never_rolls_back_the_model(
    demo_data, straight, tmp_path
):
    run = _copy_run(straight, tmp_path / "run", keep=(4, 6))
    _edit_metadata(ckpt.state_path(run, 6), lambda m: m.update(position="1"))  # corrupted
    model = run / "model.safetensors"
    model_6 = model.stat().st_ino
    trainer = _trainer(demo_data, run, "train.keep_last=2", "train.checkpoint_every=1")
    real_save = trainer.save
    seen = []

    def save():
        path = real_save()
        seen.append(([ckpt.state_step(p) for p in ckpt.list_states(run)], model.stat().st_ino))
        return path

    trainer.save = save
    trainer.fit(resume=True)
    assert seen[0] == ([5, 6], model_6)  # state 5 kept beside the stale 6; the model not rolled back to 5
    assert seen[1][0] == [5, 6] and seen[1][1] != model_6  # step 6 rewritten: state and model
    assert ckpt.read_metadata(model)["step"] == "6"
    _assert_same(_newest(run), _newest(straight), skip=(".rng",))


# ---- the run lock ------------------------------------------------------------------------------------
def _write_lock(run: Path, owner: Owner) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    path = run / "train.lock"
    path.write_text(owner.to_json() + "\n")
    return path


def test_a_lock_of_a_live_other_process_is_refused_in_one_line_exit_2(demo_data, tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run = tmp_path / "run"
        lock = _write_lock(run, Owner(other.pid, socket.gethostname(), boot_id(), start_time(other.pid)))
        before = lock.read_bytes()
        args = [str(BIN / "i2i-train"), "--plugin", "img2img", "--data", str(demo_data), "--out", str(run)]
        args += ["--quiet", *[a for s in [*SETS, "train.steps=1"] for a in ("--set", s)]]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"error: {run}: in use by another training (pid {other.pid}); "
            f"wait for it or pick another --out (if it is dead, delete {lock})"
        ]
        assert lock.read_bytes() == before and sorted(p.name for p in run.iterdir()) == ["train.lock"]
    finally:
        other.kill()
        other.wait()


def test_a_lock_whose_pid_is_now_another_process_is_taken_over(tmp_path, caplog):
    """Same host and pid 1 again after a container restart, or a reused pid: the start time (or the
    boot id) says the lock's owner is gone."""
    me = this_process()
    if me.start is None or me.boot_id is None:
        pytest.skip("no /proc on this system: locks are judged by pid alone")
    cases = {
        "start time": Owner(me.pid, me.host, me.boot_id, me.start - 1),
        "boot id": Owner(me.pid, me.host, "0" * 8 + me.boot_id[8:], me.start),
        "older format": Owner(me.pid, me.host, legacy=True),
    }
    for why, owner in cases.items():
        run = tmp_path / why.replace(" ", "-")
        path = _write_lock(run, owner) if not owner.legacy else run / "train.lock"
        if owner.legacy:
            run.mkdir()
            path.write_text(f"{me.pid}@{me.host}\n")
        with caplog.at_level("WARNING", logger="i2i.train"), RunLock(run):
            assert json.loads(path.read_text())["start"] == me.start, why
        assert "taking over" in caplog.text and not path.exists(), why
        caplog.clear()
    # this very process, and a training on another host: respected
    for owner, message in [
        (me, f"\\(pid {me.pid} \\(this very process\\)\\)"),
        (Owner(1, "elsewhere"), "on elsewhere"),
    ]:
        run = tmp_path / f"held-{owner.host}"
        path = _write_lock(run, owner)
        with pytest.raises(I2IError, match=message):
            RunLock(run).acquire()
        assert path.exists()


# ---- temporary files and durable renames -------------------------------------------------------
FIXED_TEMP_NAMES = [  # the names earlier versions wrote through
    ".config.yaml.tmp",
    ".metrics.jsonl.tmp",
    ".report.html.tmp",
    "samples/.step-00000003.png.tmp",
    "checkpoints/.state-00000003.safetensors.tmp",
    ".model.safetensors.tmp",
]


def test_planted_symlinks_at_temporary_names_are_not_followed(demo_data, tmp_path):
    run = tmp_path / "run"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in FIXED_TEMP_NAMES:
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).symlink_to(victim)
    _trainer(demo_data, run, "train.steps=3").fit()
    _trainer(demo_data, run, "train.steps=4").fit(resume=True)  # rewrites metrics.jsonl too
    assert victim.read_text() == "precious"
    assert all((run / name).is_symlink() for name in FIXED_TEMP_NAMES)
    assert ckpt.state_step(ckpt.list_states(run)[-1]) == 4


def test_the_precision_cache_is_written_without_following_a_planted_symlink(tmp_path):
    from i2i.engine import autoprecision

    cache = tmp_path / "cache" / "precision.json"
    cache.parent.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in (f".{cache.name}.{os.getpid()}.tmp", f".{cache.name}.tmp"):
        (cache.parent / name).symlink_to(victim)
    autoprecision._write_cache(cache, "k", {"precision": "fp32"})
    assert victim.read_text() == "precious" and "fp32" in cache.read_text()


def test_renames_are_made_durable_by_fsyncing_the_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc to name the descriptors")
    monkeypatch.setattr(os, "fsync", fsync)
    path = ckpt.state_path(tmp_path / "run", 1)
    ckpt.save_state(path, {"step": 1, "w": torch.zeros(2)})
    assert synced[-1] == str(path.parent.resolve()) and any(
        ".state-00000001.safetensors." in s for s in synced
    )


# ---- checksums: older files still load ------------------------------------------------------------------
def test_files_with_tensor_only_digests_or_none_still_load_and_damaged_ones_do_not(tmp_path):
    from safetensors.torch import save_file

    tensors = {"w": torch.arange(6.0)}
    skeleton = json.dumps({"__dict__": [["step", 3], ["w", {"__tensor__": "w"}]]})
    meta = {"format": ckpt.STATE_FORMAT, "state": skeleton}
    old = tmp_path / "old.safetensors"  # written before the digest covered metadata
    save_file(tensors, str(old), metadata={**meta, "sha256": ckpt.tensors_digest(tensors)})
    older = tmp_path / "older.safetensors"  # before digests
    save_file(tensors, str(older), metadata=meta)
    for path in (old, older):
        state = ckpt.load_state(path)
        assert state["step"] == 3 and torch.equal(state["w"], tensors["w"])
    new = tmp_path / "new.safetensors"
    ckpt.save_state(new, {"step": 3, "w": tensors["w"]})
    for damage in (
        lambda m: m.pop(ckpt.SCOPE_KEY),  # would make it look like an older file
        lambda m: m.update({ckpt.SCOPE_KEY: "tensors"}),
        lambda m: m.update(sha25X=m.pop("sha256")),
    ):
        path = tmp_path / "damaged.safetensors"
        path.write_bytes(new.read_bytes())
        _edit_metadata(path, damage)
        with pytest.raises(InputError, match="damaged.safetensors: (checksum|unknown checksum)"):
            ckpt.load_state(path)
