"""Inference inputs apart from the networks (`i2i.inputs`): typed InputSpecs parsed and checked by
the core CLI, paired folder inputs matched by file name, a fresh reader state per input stream,
and the conditioner-`prepare` contract of older plugins still working."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from i2i import InputSpec, Modality, hookimpl
from i2i.cli.main import run_main
from i2i.config import Config
from i2i.errors import InputError
from i2i.inputs import FILES, InputReader
from i2i.interfaces import Condition, Conditioner, Generator

# ---- typed InputSpecs ---------------------------------------------------------------------------


def test_typed_inputs_parse_and_check_their_values():
    steps = InputSpec("steps", type="int", default=0, minimum=0, maximum=10)
    assert steps.kind == "text" and steps.parse("7") == 7 and steps.default == 0
    for bad, reason in (("lots", "whole number"), ("2.5", "whole number"), ("11", "from 0 to 10")):
        with pytest.raises(ValueError, match=reason):
            steps.parse(bad)
    scale = InputSpec("scale", type="float", minimum=0)
    assert scale.parse("0.25") == 0.25
    for bad in ("nan", "-1", "x"):
        with pytest.raises(ValueError):
            scale.parse(bad)
    direction = InputSpec("direction", choices=("AtoB", "BtoA"), default="AtoB")
    assert direction.type == "choice" and direction.metavar == "{AtoB,BtoA}"
    assert direction.parse("BtoA") == "BtoA"
    with pytest.raises(ValueError, match="one of AtoB, BtoA"):
        direction.parse("atob")
    assert InputSpec("prompt", kind="text").parse("  as typed ") == "  as typed "


def test_parse_values_fills_defaults_and_parses_what_was_typed():
    from i2i.inputs import parse_values

    specs = [
        InputSpec("steps", type="int", default=3),
        InputSpec("sizes", type="int", multiple=True, default=8),
        InputSpec("photo", kind="image"),
    ]
    assert parse_values(specs, {"photo": "a.png"}) == {"photo": "a.png", "steps": 3, "sizes": [8]}
    assert parse_values(specs, {"steps": "5", "sizes": ["1", "2"]}) == {"steps": 5, "sizes": [1, 2]}
    with pytest.raises(InputError, match="^--sizes: expected a whole number, got 'x'$"):
        parse_values(specs, {"sizes": ["1", "x"]})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"type": "integer"},
        {"type": "int", "kind": "labels"},
        {"type": "choice"},  # no choices
        {"minimum": 1},  # bounds on a string
        {"type": "int", "default": "many"},
        {"choices": ("a", "b"), "default": "c"},
    ],
)
def test_a_bad_input_spec_is_a_plugin_error_at_registration(kwargs):
    with pytest.raises(ValueError, match="InputSpec 'x'"):
        InputSpec("x", **kwargs)


# ---- an in-process two-input plugin: photo + mask, paired folders -------------------------------


class MaskReader(InputReader):
    """Records what it is given: file names, typed values and the stream state it sees."""

    seen: list[dict[str, Any]] = []

    def new_state(self) -> dict[str, int]:
        return {"count": 0}

    def prepare(self, inputs: Mapping[str, Any], state: dict[str, int]) -> dict[str, Any]:
        photo, mask = inputs["input"], inputs["mask"]
        if photo.shape[-2:] != mask.shape[-2:]:
            raise InputError("--mask", f"size {tuple(mask.shape[-2:])} is not the photo's")
        state["count"] += 1
        MaskReader.seen.append(
            {"files": dict(inputs[FILES]), "direction": inputs["direction"], "gain": inputs["gain"],
             "count": state["count"]}
        )  # fmt: skip
        sign = 1.0 if inputs["direction"] == "AtoB" else -1.0
        return {"input": photo, "mask": mask[:1], "sign": torch.tensor(sign * inputs["gain"])}


class MaskConditioner(Conditioner):
    def forward(self, batch: Mapping[str, Any]) -> Condition:
        return Condition(maps=batch["input"], parts={"mask": batch["mask"]}, vector=batch["sign"][:, None])


class MaskGenerator(Generator):
    """No weights: the photo where the mask is white, black elsewhere, times the signed gain."""

    def forward(self, cond: Condition, z: torch.Tensor | None = None) -> torch.Tensor:
        keep = (cond.parts["mask"] > 0).float()
        return (cond.maps * keep - (1 - keep)) * cond.vector[:, :, None, None]


MASKED = Modality(
    name="masked",
    summary="photo + mask (test)",
    inputs=[
        InputSpec("input", kind="image", help="photo or folder of photos"),
        InputSpec("mask", kind="image", help="mask or folder of masks (paired by name)"),
        InputSpec("direction", choices=("AtoB", "BtoA"), default="AtoB", help="which way"),
        InputSpec("gain", type="float", default=1.0, minimum=0, maximum=1, help="output gain"),
    ],
    config="unused.yaml",
    conditioner=MaskConditioner,
    dataset="unused:Dataset",
    reader=MaskReader,
)


class _MaskedPlugin:
    @hookimpl
    def register_modalities(self, register):
        register(MASKED)


@pytest.fixture
def masked(fresh_plugins, monkeypatch):
    """The plugin registered in-process and `load_pipeline` giving its (weightless) pipeline."""
    from i2i import pipeline

    fresh_plugins.register(_MaskedPlugin(), name="masked")
    pipe = pipeline.Pipeline(
        MASKED, Config({"model": {}}), MaskConditioner(), MaskGenerator(), torch.device("cpu"), "test"
    )
    monkeypatch.setattr(pipeline, "load_pipeline", lambda *a, **k: pipe)
    MaskReader.seen = []
    return pipe


def _rgb(seed: int, size: tuple[int, int] = (8, 6)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def _mask(seed: int, size: tuple[int, int] = (8, 6)) -> np.ndarray:
    grey = (np.random.default_rng(100 + seed).random((size[1], size[0])) > 0.5).astype(np.uint8) * 255
    return np.repeat(grey[:, :, None], 3, axis=2)


def _folders(root: Path, stems: list[str], masks: list[str]) -> tuple[Path, Path]:
    photos, mask_dir = root / "photos", root / "masks"
    photos.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    for i, stem in enumerate(stems):
        Image.fromarray(_rgb(i)).save(photos / (stem + (".jpg" if i == 1 else ".png")), quality=100)
    for stem in masks:
        Image.fromarray(_mask(stems.index(stem) if stem in stems else 9)).save(mask_dir / f"{stem}.png")
    return photos, mask_dir


def _errors(err: str) -> list[str]:
    """stderr lines of the command, less the CLI's notices about other installed plugins that
    failed to load (not this test's business)."""
    return [line for line in err.splitlines() if line.strip() and not line.startswith("i2i: plugin ")]


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        run_main(argv)
    return int(info.value.code or 0)


def test_help_shows_types_choices_and_defaults(masked, capsys):
    assert _run(["--plugin", "masked", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--direction {AtoB,BtoA} which way (default: AtoB)" in out, out
    assert "--gain X output gain (float 0..1; default: 1.0)" in out, out


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [("--direction", "sideways", "must be one of AtoB, BtoA, got 'sideways'"),
     ("--gain", "2", "must be from 0 to 1, got 2"), ("--gain", "loud", "expected a number")],
)  # fmt: skip
def test_a_bad_typed_value_is_a_one_line_usage_error(masked, capsys, tmp_path, option, value, needle):
    photos, masks = _folders(tmp_path, ["a"], ["a"])
    argv = ["--plugin", "masked", "--input", str(photos / "a.png"), "--mask", str(masks / "a.png")]
    assert _run([*argv, option, value, "--out", str(tmp_path / "x.png")]) == 2
    err = _errors(capsys.readouterr().err)
    assert len(err) == 1 and option in err[0] and needle in err[0], err
    assert not (tmp_path / "x.png").exists() and not MaskReader.seen


def test_paired_folders_are_matched_by_file_name(masked, tmp_path):
    """--input photos/ --mask masks/: each photo with the mask of its name (a.png with a.png, b.jpg
    with b.png); the reader gets both file names and the parsed typed values; one stream per folder."""
    photos, masks = _folders(tmp_path, ["a", "b", "c"], ["c", "a", "b"])
    out = tmp_path / "out"
    argv = ["--plugin", "masked", "--input", str(photos), "--mask", str(masks), "--gain", "0.5"]
    assert _run([*argv, "--batch-size", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    assert [s["files"] for s in MaskReader.seen] == [
        {"input": photos / f"{s}.{'jpg' if s == 'b' else 'png'}", "mask": masks / f"{s}.png"} for s in "abc"
    ]
    assert {s["direction"] for s in MaskReader.seen} == {"AtoB"} and {s["gain"] for s in MaskReader.seen} == {
        0.5
    }
    assert [s["count"] for s in MaskReader.seen] == [1, 2, 3]  # one state for the folder
    for i, stem in enumerate("abc"):
        got = np.asarray(Image.open(out / f"{stem}.png").convert("RGB")).astype(int)
        photo = np.asarray(Image.open(next(photos.glob(f"{stem}.*"))).convert("RGB")).astype(int)
        keep = _mask(i)[:, :, 0] > 0
        # out = gain * (x where kept, else -1) with x = p / 127.5 - 1, saved as (out + 1) * 127.5
        expected = np.where(keep[:, :, None], photo / 2 + 63.75, 63.75)
        assert np.abs(got - expected).max() <= 1, stem  # each photo went with its own mask


def test_unmatched_files_are_one_line_errors_naming_the_first(masked, tmp_path, capsys):
    photos, masks = _folders(tmp_path / "one", ["a", "b", "c"], ["a", "c"])
    out = tmp_path / "out"
    assert _run(["--plugin", "masked", "--input", str(photos), "--mask", str(masks), "--out", str(out)]) == 2
    err = _errors(capsys.readouterr().err)
    assert err == [f"error: {photos / 'b.jpg'}: no file named b.* in {masks} (--mask) to pair it with"], err
    photos, masks = _folders(tmp_path / "two", ["a", "b"], ["a", "b", "zz"])
    assert _run(["--plugin", "masked", "--input", str(photos), "--mask", str(masks), "--out", str(out)]) == 2
    (err,) = _errors(capsys.readouterr().err)
    assert err.startswith(f"error: {masks / 'zz.png'}: no file named zz.* in {photos} (--input)"), err
    assert not out.exists() and not MaskReader.seen  # nothing generated from a half-matched set


def test_a_readers_problem_with_an_option_names_the_paired_file(masked, tmp_path):
    from i2i.pipeline import run_files

    photos, masks = _folders(tmp_path, ["a", "b"], ["a", "b"])
    Image.fromarray(_mask(1, (4, 4))).save(masks / "b.png")  # the wrong size
    with pytest.raises(InputError) as info:
        run_files(masked, {"input": str(photos), "mask": str(masks)}, tmp_path / "out")
    assert info.value.path == str(masks / "b.png") and "is not the photo's" in info.value.problem
    assert not (tmp_path / "out").exists()


def test_every_call_is_a_fresh_stream_and_python_callers_get_parsed_values(masked, tmp_path):
    from i2i.pipeline import run_files

    photos, masks = _folders(tmp_path, ["a"], ["a"])
    raw = {"input": str(photos / "a.png"), "mask": str(masks / "a.png"), "direction": "BtoA", "gain": "0.25"}
    run_files(masked, raw, tmp_path / "one.png")
    run_files(masked, raw, tmp_path / "two.png")
    assert [s["count"] for s in MaskReader.seen] == [1, 1]  # the second call did not continue the first
    assert MaskReader.seen[0]["gain"] == 0.25 and MaskReader.seen[0]["direction"] == "BtoA"
    with pytest.raises(InputError, match="--direction: must be one of"):
        run_files(masked, {**raw, "direction": "up"}, tmp_path / "three.png")


# ---- plugins written before readers ---------------------------------------------------------------


def test_a_conditioner_with_its_own_prepare_still_runs(fresh_plugins, tmp_path):
    """The tutorial's first step (docs/tutorial/dot2img.py) has no reader: its conditioner's
    `prepare` reads `--dot`, through the pipeline, and its errors still reach the user."""
    from i2i.pipeline import Pipeline, run_files

    path = Path(__file__).resolve().parents[1] / "docs" / "tutorial" / "dot2img.py"
    spec = importlib.util.spec_from_file_location("dot2img_for_inputs", path)
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    torch.manual_seed(0)
    pipe = Pipeline(
        tutorial.DOT2IMG,
        Config({}),
        tutorial.DotConditioner(),
        tutorial.DotGenerator(),
        torch.device("cpu"),
        "t",
    )
    assert pipe.prepare({"dot": "0.5,0.5,1,0,0"})["dot"].tolist() == [0.5, 0.5, 1, 0, 0]
    assert run_files(pipe, {"dot": "0.5,0.5,1,0,0"}, tmp_path / "dot.png", seed=0) == [tmp_path / "dot.png"]
    assert Image.open(tmp_path / "dot.png").size == (32, 32)
    with pytest.raises(InputError, match="--dot: expected five numbers"):
        run_files(pipe, {"dot": "1,2"}, tmp_path / "bad.png")


def test_seg2img_label_and_instance_folders_are_paired(tmp_path):
    """A shipped plugin with two label inputs: `--labels labels/ --instances instances/` gives, for
    each map, what a single run with that map and its own instance map gives."""
    from i2i.cli.main import i2i_command

    i2i_command(["data", "demo", "seg2img", "--out", str(tmp_path / "scenes"), "--n", "24", "--seed", "0"])
    test = tmp_path / "scenes" / "test"
    names = sorted(p.name for p in (test / "labels").glob("*.png"))
    assert len(names) >= 2
    common = ["--plugin", "seg2img", "--seed", "0", "--device", "cpu", "--batch-size", "1"]
    folders = ["--labels", str(test / "labels"), "--instances", str(test / "instances")]
    assert _run([*common, *folders, "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    last = names[-1]
    single = ["--labels", str(test / "labels" / last), "--instances", str(test / "instances" / last)]
    assert _run([*common, *single, "--out", str(tmp_path / "one.png")]) == 0
    batch = np.asarray(Image.open(tmp_path / "out" / last), dtype=int)
    assert np.abs(batch - np.asarray(Image.open(tmp_path / "one.png"), dtype=int)).max() <= 1
    (test / "instances" / names[0]).unlink()
    assert _run([*common, *folders, "--out", str(tmp_path / "out2")]) == 2
    assert not (tmp_path / "out2").exists()
