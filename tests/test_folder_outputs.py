"""Issue 16: folders that lose user files. Outputs never collide, never replace the inputs, and a
SIGTERM leaves neither a staging folder nor a temporary video behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from i2i.cli.main import _guard, run_command
from i2i.pipeline import output_stems

from tiny import tiny_model_file


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("m") / "model.safetensors")


def _photo(path: Path, color: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), color).save(path)
    return path


def test_output_stems_are_all_different() -> None:
    paths = [Path(n) for n in ("a.png", "a.jpg", "b.png", "a_png.png", "A.bmp", "c_1.png")]
    stems = output_stems(paths)
    assert stems[:3] == ["a_png", "a_jpg", "b"]
    assert len({s.lower() for s in stems}) == len(stems)


def test_two_inputs_with_one_stem_give_two_outputs(model, tmp_path, capsys) -> None:
    src = tmp_path / "in"
    _photo(src / "a.png", (200, 30, 30))
    _photo(src / "a.jpg", (30, 30, 200))
    out = tmp_path / "out"
    assert _guard(run_command, ["--checkpoint", str(model), "--input", str(src), "--out", str(out)]) == 0
    made = sorted(p.name for p in out.iterdir())
    assert made == ["a_jpg.png", "a_png.png"]
    a, b = (Image.open(out / n).tobytes() for n in made)
    assert a != b  # each is its own input's output


@pytest.mark.parametrize("same", ["folder", "file"])
def test_out_may_not_be_the_input(model, tmp_path, capsys, same) -> None:
    src = tmp_path / "photos"
    original = _photo(src / "a.png", (10, 200, 10)).read_bytes()
    given = src if same == "folder" else src / "a.png"
    status = _guard(run_command, ["--checkpoint", str(model), "--input", str(given), "--out", str(given)])
    err = capsys.readouterr().err
    assert status == 2 and "originals would be replaced" in err and err.count("\n") == 1
    assert (src / "a.png").read_bytes() == original and sorted(os.listdir(src)) == ["a.png"]


def test_sigterm_during_a_folder_leaves_nothing_behind(model, tmp_path) -> None:
    src = tmp_path / "many"
    for i in range(400):
        _photo(src / f"p{i:03d}.png", (i % 255, 100, 50))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "i2i.cli.main", "run", "--checkpoint", str(model), "--input", str(src),
         "--out", str(out), "--batch-size", "1"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".out.") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(0.5)  # inside the loop, some images staged
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "SIGTERM" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many"]  # no staging folder, no out


def test_data_frames_of_a_cut_video_writes_nothing(tmp_path, capsys) -> None:
    import torch

    from i2i.cli.main import i2i_command
    from i2i.data.video import VideoWriter

    good = tmp_path / "good.mp4"
    with VideoWriter(good, fps=25) as writer:
        writer.write(torch.linspace(-1, 1, 32).expand(40, 3, 32, 32).clone())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: int(good.stat().st_size * 0.6)])
    out = tmp_path / "frames"
    assert _guard(i2i_command, ["data", "frames", str(good), str(cut), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cut.mp4" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "good.mp4"]  # no frames, no staging
    assert _guard(i2i_command, ["data", "frames", str(good), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir())[:2] == ["good_00000.png", "good_00001.png"]
