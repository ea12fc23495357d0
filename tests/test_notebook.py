"""Notebook use: `pipe = i2i.load_pipeline(...)`; `pipe(...)` -> PIL images (i2i.notebook).

The examples of docs/notebooks.md are the files docs/examples/notebook_*.py, run here as they are.
"""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import i2i
from i2i.errors import I2IError, InputError
from i2i.pipeline import run_files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("notebook_*.py"))
PHOTO = ROOT / "docs" / "examples" / "chelsea-small.png"


def test_every_plugin_has_a_notebook_example_and_the_page_shows_each():
    from i2i.plugins import get_manager

    names = {p.stem.removeprefix("notebook_") for p in EXAMPLES}
    assert set(get_manager().modalities()) <= names
    page = (ROOT / "docs" / "notebooks.md").read_text()
    for path in EXAMPLES:
        assert f"examples/{path.name}" in page, path.name
        assert path.read_text().strip() in page, f"docs/notebooks.md does not show {path.name} as it is"


@pytest.mark.parametrize(
    "card",
    [
        "face2img-faces",
        "img2img-colorize",
        "img2img-sr-x4",
        "pose2img-people",
        "seg2img-streets",
        "text2img-birds",
        "unpaired-day-night",
    ],
)
def test_model_cards_link_the_notebook_page(card):
    text = (ROOT / "docs" / "models" / f"{card}.md").read_text()
    assert "(../notebooks.md)" in text and "i2i.load_pipeline(" in text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_notebook_example_runs(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    names = runpy.run_path(str(path), run_name="__main__")
    images = [v for v in names.values() if isinstance(v, Image.Image)]
    lists = [
        v for v in names.values() if isinstance(v, list) and v and all(isinstance(i, Image.Image) for i in v)
    ]
    assert images or lists, f"{path.name} made no image"
    if path.stem == "notebook_img2img":
        assert names["big"].size == (4 * 112, 4 * 75)
    if path.stem == "notebook_seg2img":
        photos = names["photos"]
        assert len(photos) == 4 and photos[0].size == (64, 64)
        assert not np.array_equal(np.asarray(photos[0]), np.asarray(photos[1]))  # styles differ
    if path.stem == "notebook_text2img":
        assert len(names["birds"]) == 4 and len(names["typical"]) == 4


def test_a_call_gives_what_i2i_run_writes(tmp_path):
    pipe = i2i.load_pipeline("text2img", device="cpu")
    prompts = ["red bird with short beak", "blue bird with long beak"]
    images = pipe(prompt=prompts, num_samples=2, seed=3)
    run_files(pipe, {"prompt": prompts}, tmp_path / "grid.png", num_samples=2, seed=3)
    rows = [np.concatenate([np.asarray(images[2 * r + k]) for k in range(2)], axis=1) for r in range(2)]
    assert np.array_equal(np.concatenate(rows, axis=0), np.asarray(Image.open(tmp_path / "grid.png")))

    sr = i2i.load_pipeline("img2img", device="cpu")
    run_files(sr, {"input": str(PHOTO)}, tmp_path / "big.png", seed=0)
    want = np.asarray(Image.open(tmp_path / "big.png"))
    for value in (
        PHOTO,
        str(PHOTO),
        Image.open(PHOTO),
        np.asarray(Image.open(PHOTO)),
        Image.open(PHOTO).convert("L"),
    ):
        got = sr(value, seed=0)
        assert len(got) == 1
        if isinstance(value, Image.Image) and value.mode == "L":
            assert got[0].size == (448, 300)  # grey is read as RGB, as a grey file is
        else:
            assert np.array_equal(np.asarray(got[0]), want)
    float_photo = np.asarray(Image.open(PHOTO)).astype(np.float32) / 255
    assert np.array_equal(np.asarray(sr(input=float_photo, seed=0)[0]), want)


def test_a_chain_is_called_like_a_pipeline():
    photo = Image.open(PHOTO).crop((0, 0, 32, 32))
    chain = i2i.load_pipeline("unpaired", then=["img2img"], device="cpu")
    got = chain(photo, direction="AtoB", seed=0)
    night = i2i.load_pipeline("unpaired", device="cpu")(photo, direction="AtoB", seed=0)[0]
    want = i2i.load_pipeline("img2img", device="cpu")(night, seed=0)
    assert len(got) == 1 and got[0].size == (128, 128)
    assert np.array_equal(np.asarray(got[0]), np.asarray(want[0]))


def test_video_input_gives_an_iterator_of_frames(tmp_path):
    from i2i.data.video import VideoWriter

    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=5) as writer:
        writer.write(torch.rand(3, 3, 32, 32) * 2 - 1)
    frames = i2i.load_pipeline("img2img", device="cpu")(str(video), seed=0)
    assert isinstance(frames, Iterator)
    frames = list(frames)
    assert len(frames) == 3 and all(f.size == (128, 128) for f in frames)


def test_bad_calls_are_one_line_errors(tmp_path):
    pipe = i2i.load_pipeline("seg2img", device="cpu")
    with pytest.raises(I2IError, match="no input 'photo'"):
        pipe(photo=PHOTO)
    with pytest.raises(I2IError, match="one positional input"):
        pipe(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))
    with pytest.raises(I2IError, match="given twice"):
        pipe(np.zeros((8, 8), np.uint8), labels=np.zeros((8, 8), np.uint8))
    with pytest.raises(I2IError, match="needs labels"):
        pipe(num_samples=2)
    with pytest.raises(I2IError, match="num_samples"):
        pipe(np.zeros((8, 8), np.uint8), num_samples=0)
    with pytest.raises(InputError, match="integer class ids"):
        pipe(np.zeros((8, 8), np.float32))
    bad = np.full((16, 16), 40, np.uint8)  # the reader's own check, as for a file with id 40
    with pytest.raises(InputError) as from_array:
        pipe(bad)
    Image.fromarray(bad).save(tmp_path / "bad.png")
    with pytest.raises(InputError) as from_file:
        run_files(pipe, {"labels": str(tmp_path / "bad.png")}, tmp_path / "out.png")
    assert from_array.value.problem == from_file.value.problem
    (tmp_path / "cut.png").write_bytes((tmp_path / "bad.png").read_bytes()[:40])
    with pytest.raises(InputError) as cut:
        pipe(tmp_path / "cut.png")
    assert Path(cut.value.path) == tmp_path / "cut.png"
    assert not (tmp_path / "out.png").exists()
