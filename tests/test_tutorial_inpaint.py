"""The tutorial's second modality (docs/tutorial/inpaint.py) works as docs/writing-a-plugin.md says:
demo data through `i2i data demo`, training on a PhotoFolder of paired sub-folders, `i2i-run` on a
folder of photos with a folder of masks, and its one-line errors (a missing mask, a mask of the
wrong size, a bad config value)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.cli.main import i2i_command, main, run_main
from i2i.config import load_config
from i2i.engine.trainer import Trainer

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial" / "inpaint.py"
STEPS = 150


@pytest.fixture
def inpaint(fresh_plugins):
    """The tutorial module, registered in-process as a plugin."""
    spec = importlib.util.spec_from_file_location("inpaint_tutorial", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh_plugins.get_manager().register(module, name="inpaint")
    return module


def _exit(command, argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        command(argv)
    return int(info.value.code or 0)


def _errors(err: str) -> list[str]:
    """stderr lines, less the CLI's notices about other installed plugins that failed to load."""
    return [line for line in err.splitlines() if line.strip() and not line.startswith("i2i: plugin ")]


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(float) / 255


def _damaged(test: Path, out: Path) -> Path:
    """The held-out photos with noise where their masks have holes (what a user would give)."""
    rng = np.random.default_rng(0)
    out.mkdir()
    for path in sorted((test / "images").glob("*.png")):
        photo = np.asarray(Image.open(path).convert("RGB"))
        hole = np.asarray(Image.open(test / "masks" / path.name))[:, :, None] > 127
        Image.fromarray(np.where(hole, rng.integers(0, 256, photo.shape), photo).astype(np.uint8)).save(
            out / path.name
        )
    return out


def test_inpaint_trains_and_fills_a_folder_of_photos_paired_with_a_folder_of_masks(inpaint, tmp_path, capsys):
    data = tmp_path / "data"
    i2i_command(["data", "demo", "inpaint", "--out", str(data)])  # no --n: the writer's default
    test = data / "test"
    names = sorted(p.name for p in (test / "images").glob("*.png"))
    assert len(names) == 32 and names == sorted(p.name for p in (test / "masks").glob("*.png"))

    from i2i import plugins

    modality = plugins.get_manager().get_modality("inpaint")
    sets = [f"train.steps={STEPS}", "train.tensorboard=false", "train.sample_every=1000",
            "train.precision=fp32", "optim.decay_from=1.0"]  # fmt: skip
    Trainer(load_config(modality, sets=sets), modality, data, tmp_path / "run", progress=False).fit()

    run = ["--checkpoint", str(tmp_path / "run"), "--device", "cpu", "--mask", str(test / "masks")]
    damaged = _damaged(test, tmp_path / "damaged")
    assert _exit(run_main, [*run, "--input", str(damaged), "--out", str(tmp_path / "filled")]) == 0
    assert sorted(p.name for p in (tmp_path / "filled").iterdir()) == names
    # the same photos with the truth inside the holes give the same outputs: nothing gets through
    assert _exit(run_main, [*run, "--input", str(test / "images"), "--out", str(tmp_path / "peek")]) == 0

    kept, model, grey, peek = [], [], [], []
    for name in names:
        truth, got = _rgb(test / "images" / name), _rgb(tmp_path / "filled" / name)
        hole = np.asarray(Image.open(test / "masks" / name)) > 127
        kept.append(np.abs(got - truth)[~hole].max())
        model.append(np.abs(got - truth)[hole].mean())
        grey.append(np.abs(128 / 255 - truth)[hole].mean())  # = the untrained model (zero last layer)
        peek.append(np.abs(got - _rgb(tmp_path / "peek" / name)).max())
    with capsys.disabled():  # the numbers, for the record (pytest -s)
        print(
            f"\nheld-out hole L1: model {np.mean(model):.4f}, grey fill {np.mean(grey):.4f}; kept max {max(kept):.4f}"
        )
    assert max(kept) <= 1 / 255, max(kept)  # the pixels outside the holes are the photo's
    assert max(peek) <= 1 / 255, max(peek)
    assert np.mean(model) < 0.75 * np.mean(grey), (np.mean(model), np.mean(grey))  # it learned to fill

    # a photo whose mask is missing: one line naming it, exit 2, nothing written
    masks = tmp_path / "masks"
    shutil.copytree(test / "masks", masks)
    (masks / names[3]).unlink()
    capsys.readouterr()
    argv = ["--checkpoint", str(tmp_path / "run"), "--input", str(damaged), "--mask", str(masks)]
    assert _exit(run_main, [*argv, "--out", str(tmp_path / "none")]) == 2
    stem = names[3].removesuffix(".png")
    expected = f"error: {damaged / names[3]}: no file named {stem}.* in {masks} (--mask) to pair it with"
    assert _errors(capsys.readouterr().err) == [expected]
    assert not (tmp_path / "none").exists()

    # a mask of the wrong size: the reader's one line, reported against the mask file
    Image.new("L", (8, 8)).save(masks / names[3])
    assert _exit(run_main, [*argv, "--out", str(tmp_path / "none")]) == 2
    assert _errors(capsys.readouterr().err) == [f"error: {masks / names[3]}: is 8x8, its photo is 40x40"]
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("setting", "line"),
    [("data.mask_threshold=1.5", "data.mask_threshold: 1.5 must be a number between 0 and 1 (exclusive)"),
     ("data.crop_size=30", "data.crop_size: 30 must be a multiple of 4")],
)  # fmt: skip
def test_inpaint_config_values_are_checked_before_training(inpaint, tmp_path, capsys, setting, line):
    inpaint.write_demo(tmp_path / "data", n=8)
    run = tmp_path / "run"
    argv = [
        "train",
        "--plugin",
        "inpaint",
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(run),
        "--set",
        setting,
    ]
    assert _exit(main, argv) == 2
    assert _errors(capsys.readouterr().err) == [f"error: {line}"]
    assert not run.exists()
