"""Folders stream (`i2i.pipeline.run_files`): headers are checked before anything is generated,
pixels are decoded one batch at a time, a file whose data is corrupt half-way through the folder
is one line (exit 2) with --out untouched, results are those of one image at a time, and a
progress bar with rate and ETA appears for folders and videos when asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.cli.main import run_main


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        run_main(argv)
    return int(info.value.code or 0)


def _photos(folder: Path, n: int, sizes: tuple[tuple[int, int], ...] = ((24, 16),)) -> list[Path]:
    """n small real-photo crops (scikit-image's chelsea), sizes cycling through `sizes` (w, h)."""
    from skimage import data

    cat = data.chelsea()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        crop = cat[10 * i : 10 * i + h, 7 * i : 7 * i + w]
        paths.append(folder / f"p{i:02d}.png")
        Image.fromarray(np.ascontiguousarray(crop)).save(paths[-1])
    return paths


def _truncate(path: Path) -> None:
    """Keep the header (PIL still opens the file and reads its size), cut the pixel data."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with Image.open(path) as img:
        assert img.size[0] > 0  # the header alone is fine


def test_a_corrupt_image_mid_folder_is_one_line_and_out_is_untouched(tmp_path, capsys, monkeypatch):
    photos = _photos(tmp_path / "in", 6)
    _truncate(photos[3])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("from an earlier run")
    generated = []
    from i2i.pipeline import Pipeline

    original = Pipeline.generate

    def counting(self, batch, *args, **kwargs):
        generated.append(int(batch["input"].shape[0]))
        return original(self, batch, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "generate", counting)
    code = _run(
        ["--plugin", "img2img", "--input", str(tmp_path / "in"), "--out", str(out), "--batch-size", "2"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(photos[3]) in err and "truncated" in err, err
    assert sum(generated) == 2  # the first batch was generated before the corrupt one was decoded
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no staging folder left


def test_headers_are_checked_before_anything_is_generated(tmp_path, capsys, monkeypatch):
    photos = _photos(tmp_path / "in", 4)
    photos[-1].write_bytes(b"not an image at all")
    from i2i.pipeline import Pipeline

    def never(*args, **kwargs):
        raise AssertionError("generated before the folder was checked")

    monkeypatch.setattr(Pipeline, "generate", never)
    assert _run(["--plugin", "img2img", "--input", str(tmp_path / "in"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(photos[-1]) in err and "not an image" in err
    assert not (tmp_path / "o").exists()


def test_folder_results_are_those_of_each_image_alone(tmp_path):
    """Batches of 3 over images of two sizes (grouped by size as before): every output is the
    image that running the file alone gives."""
    photos = _photos(tmp_path / "in", 5, sizes=((24, 16), (20, 20)))
    assert (
        _run(
            [
                "--plugin",
                "img2img",
                "--input",
                str(tmp_path / "in"),
                "--out",
                str(tmp_path / "out"),
                "--batch-size",
                "3",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{p.stem}.png" for p in photos]
    for photo in photos:
        alone = tmp_path / f"alone-{photo.stem}.png"
        assert _run(["--plugin", "img2img", "--input", str(photo), "--out", str(alone)]) == 0
        a = np.asarray(Image.open(alone), dtype=np.int16)
        b = np.asarray(Image.open(tmp_path / "out" / f"{photo.stem}.png"), dtype=np.int16)
        assert a.shape == b.shape == (4 * Image.open(photo).size[1], 4 * Image.open(photo).size[0], 3)
        assert np.abs(a - b).max() <= 1  # batched convolutions may round differently by a level


def test_progress_bar_for_folders_and_videos(tmp_path, capsys):
    from i2i.data.video import VideoWriter
    from i2i.pipeline import load_pipeline, run_files

    pipe = load_pipeline("img2img", device="cpu")
    _photos(tmp_path / "in", 3)
    run_files(pipe, {"input": str(tmp_path / "in")}, tmp_path / "out", batch_size=1, progress=True)
    err = capsys.readouterr().err
    assert "/3 [" in err and "image/s" in err, err  # count of total, elapsed<ETA, rate
    run_files(pipe, {"input": str(tmp_path / "in")}, tmp_path / "out2", progress=False)
    assert capsys.readouterr().err == ""
    import torch

    clip = tmp_path / "clip.mp4"
    with VideoWriter(clip, fps=5) as writer:
        writer.write(torch.zeros(4, 3, 16, 16))
    run_files(pipe, {"input": str(clip)}, tmp_path / "clip-x4.mp4", batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "/4 [" in err and "frame/s" in err, err


def test_the_bar_shows_on_a_terminal_unless_quiet(tmp_path, capsys, monkeypatch):
    import sys

    _photos(tmp_path / "in", 2)
    args = ["--plugin", "img2img", "--input", str(tmp_path / "in")]
    assert _run([*args, "--out", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _run([*args, "--out", str(tmp_path / "b")]) == 0
    assert "/2 [" in capsys.readouterr().err
    assert _run([*args, "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
