"""Issue 16: one top-level guard turns every failure into exit 2 (bad input) or 1 (internal) and
one line on stderr; I2I_DEBUG=1 shows the traceback instead."""

from __future__ import annotations

import errno

import pytest
import torch

from i2i.cli.main import _guard, run_command
from i2i.errors import InputError


def _status(capsys, exc: BaseException) -> tuple[int, str]:
    def fail(argv: list[str]) -> int:
        raise exc

    status = _guard(fail, [])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return status, err.strip()


@pytest.mark.parametrize(
    ("exc", "status", "words"),
    [
        (InputError("photo.png", "not an image"), 2, "photo.png: not an image"),
        (
            OSError(errno.EXDEV, "Invalid cross-device link", "out/.a.tmp", None, "out/a.png"),
            2,
            "out/.a.tmp -> out/a.png: Invalid cross-device link",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/ro/out.png"),
            2,
            "/ro/out.png: Permission denied",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), 2, "No space left on device"),
        (MemoryError(), 2, "out of memory"),
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB"), 2, "out of memory"),
        (ValueError("multi\nline\nmessage"), 1, "internal error: ValueError: multi line message"),
        (KeyError("x"), 1, "internal error: KeyError"),
    ],
)
def test_every_failure_is_one_line_with_its_status(capsys, exc, status, words) -> None:
    got, line = _status(capsys, exc)
    assert got == status and words in line


def test_interrupt_and_broken_pipe(capsys) -> None:
    assert _status(capsys, KeyboardInterrupt())[0] == 130

    def pipe(argv: list[str]) -> int:
        raise BrokenPipeError

    assert _guard(pipe, []) == 0


def test_debug_shows_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("I2I_DEBUG", "1")

    def fail(argv: list[str]) -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        _guard(fail, [])


def test_out_under_a_file_is_one_line_and_nothing_written(capsys, tmp_path) -> None:
    photo = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (16, 16), (90, 120, 30)).save(photo)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    status = _guard(
        run_command, ["--plugin", "img2img", "--input", str(photo), "--out", str(blocker / "out.png")]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(blocker) in err
    assert blocker.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == [
        "in.png",
        "notes.txt",
    ]


def test_num_samples_are_generated_batch_by_batch_with_the_same_noise(tmp_path) -> None:
    """`--num-samples 6 --batch-size 2`: the generator never sees more than 2 at once, and the
    seed gives the same images as one batch of 6 (noise drawn for all first)."""
    from i2i.pipeline import load_pipeline

    from tiny import tiny_model_file

    pipe = load_pipeline(tiny_model_file(tmp_path / "m.safetensors"), device="cpu")
    pipe.generator.noise_dim = 8  # a generator that draws noise (it ignores it): checks the noise split
    seen: list[int] = []
    forward = pipe.generator.forward

    def spy(cond, z=None):
        seen.append(cond.batch_size)
        assert z is not None and z.shape[0] == cond.batch_size
        return forward(cond, None)

    pipe.generator.forward = spy
    whole = pipe.generate(pipe_batch(pipe), 6, seed=3)
    split = pipe.generate(pipe_batch(pipe), 6, seed=3, max_batch=2)
    assert seen == [6, 2, 2, 2] and torch.equal(whole, split)


def pipe_batch(pipe):
    from i2i.pipeline import _collate

    x = torch.linspace(-1, 1, 3 * 32 * 32).reshape(3, 32, 32)
    return _collate([pipe.prepare({"input": x})])


def test_sample_counts_are_bounded_at_the_command_line(capsys) -> None:
    argv = ["--plugin", "img2img", "--input", "x.png", "--out", "y.png", "--num-samples", "100000"]
    status = _guard(run_command, argv)
    assert status == 2 and "--num-samples must be from 1 to 256" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setting",
    [
        "train.log_every=0",
        "train.checkpoint_every=-1",
        "train.batch_size=0",
        "optim.decay_from=2",
        "ema.decay=1.5",
    ],
)
def test_engine_values_it_cannot_run_with_are_one_line_before_training(capsys, tmp_path, setting) -> None:
    from i2i.cli.main import train_command

    out = tmp_path / "run"
    status = _guard(
        train_command, ["--plugin", "img2img", "--data", str(tmp_path), "--out", str(out), "--set", setting]
    )
    err = capsys.readouterr().err
    assert status == 2 and setting.split("=")[0] in err and err.count("\n") == 1, err
    assert not out.exists()
