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
