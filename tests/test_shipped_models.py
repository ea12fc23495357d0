"""Several shipped models per plugin: `Modality.models`, `i2i-run --model`, `i2i plugins` listing
them, and the one-line errors for an unknown name or a declared file that is not installed."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from i2i import Modality, hookimpl
from i2i.cli.main import _guard, i2i_command, run_command
from i2i.pipeline import load_pipeline
from i2i.plugins import get_modality
from i2i.shipped import model_file, shipped_models, split_spec

from tiny import tiny_model_file


class _Multi:
    """An in-process plugin "multi": img2img's parts, three declared models, `b` the default, `c`
    declared but not installed."""

    def __init__(self, models: dict[str, str]) -> None:
        base = get_modality("img2img")
        self.modality = dataclasses.replace(
            base, name="multi", models=models, default_model="b", default_checkpoint=None
        )

    @hookimpl
    def register_modalities(self, register):
        register(self.modality)


@pytest.fixture
def multi(fresh_plugins, tmp_path):
    """Model `a` is a U-Net with ngf 8, `b` one with ngf 4 (another architecture, other weights)."""
    a = tiny_model_file(tmp_path / "a.safetensors", seed=1, plugin="multi")
    b = tiny_model_file(tmp_path / "b.safetensors", seed=2, sets=["model.generator.ngf=4"], plugin="multi")
    fresh_plugins.register(
        _Multi({"a": str(a), "b": str(b), "c": str(tmp_path / "missing.safetensors")}), name="multi-plugin"
    )
    return tmp_path


def _photo(path, size=(48, 40), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(path)
    return path


def _run(capsys, *argv):
    rc = _guard(run_command, list(argv))
    return rc, capsys.readouterr().err


def test_a_modality_has_one_table_of_shipped_models():
    old = Modality("m", "s", [], "c", "x:y", "d:e", default_checkpoint="p:w/one.safetensors")
    assert old.models == {"default": "p:w/one.safetensors"} and old.default_model == "default"
    new = Modality("m", "s", [], "c", "x:y", "d:e", models={"x": "p:x", "y": "p:y"})
    assert new.default_model == "x" and new.default_checkpoint == "p:x"  # the first is the default
    picked = Modality("m", "s", [], "c", "x:y", "d:e", models={"x": "p:x", "y": "p:y"}, default_model="y")
    assert picked.default_checkpoint == "p:y"
    assert Modality("m", "s", [], "c", "x:y", "d:e").models == {}
    with pytest.raises(ValueError, match="default_model 'z'"):
        Modality("m", "s", [], "c", "x:y", "d:e", models={"x": "p:x"}, default_model="z")
    with pytest.raises(ValueError, match="give models or default_checkpoint"):
        Modality("m", "s", [], "c", "x:y", "d:e", models={"x": "p:x"}, default_checkpoint="p:other")


def test_img2img_ships_sr_x4_as_its_default_and_declares_colorize():
    modality = get_modality("img2img")
    models = {m.name: m for m in shipped_models(modality)}
    assert modality.default_model == "sr-x4" and models["sr-x4"].default and models["sr-x4"].installed
    assert "colorize" in models and not models["colorize"].default
    assert models["colorize"].path.name == "colorize.safetensors"
    assert model_file(modality) == model_file(modality, "sr-x4") == models["sr-x4"].path
    assert load_pipeline("img2img:sr-x4", device="cpu").source == str(models["sr-x4"].path)


def test_model_picks_another_shipped_model(multi, capsys):
    src = _photo(multi / "in.png")
    outs = {}
    for model in ("a", "b", None):
        out = multi / f"out-{model}.png"
        rc, err = _run(
            capsys,
            "--plugin",
            "multi",
            *(["--model", model] if model else []),
            "--input",
            str(src),
            "--out",
            str(out),
        )
        assert rc == 0, err
        outs[model] = np.asarray(Image.open(out)).astype(int)
    assert (outs[None] == outs["b"]).all()  # no --model: the declared default
    assert np.abs(outs["a"] - outs["b"]).mean() > 5  # another model draws another image
    a, b = load_pipeline("multi:a", device="cpu"), load_pipeline("multi", model="b", device="cpu")
    assert a.config.model.generator.ngf == 8 and b.config.model.generator.ngf == 4
    assert sum(p.numel() for p in a.generator.parameters()) > sum(p.numel() for p in b.generator.parameters())


def test_unknown_model_is_one_line_listing_the_available_ones(multi, capsys):
    src = _photo(multi / "in.png")
    out = multi / "out.png"
    rc, err = _run(capsys, "--plugin", "multi", "--model", "zzz", "--input", str(src), "--out", str(out))
    assert rc == 2 and err.count("\n") == 1
    assert "unknown model 'zzz'" in err and "a, b (default), c (not installed)" in err
    assert not out.exists()


def test_a_declared_model_whose_file_is_missing_is_one_line(multi, capsys):
    src = _photo(multi / "in.png")
    out = multi / "out.png"
    rc, err = _run(capsys, "--plugin", "multi", "--model", "c", "--input", str(src), "--out", str(out))
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "missing.safetensors" in err and "declared but its file is not installed" in err
    assert not out.exists()


def test_model_goes_with_plugin_not_checkpoint(multi, capsys):
    src = _photo(multi / "in.png")
    rc, err = _run(
        capsys,
        "--checkpoint",
        str(multi / "a.safetensors"),
        "--model",
        "a",
        "--input",
        str(src),
        "--out",
        str(multi / "o.png"),
    )
    assert rc == 2 and "--model" in err and err.count("\n") == 1


def test_i2i_plugins_lists_each_plugins_models(multi, capsys):
    assert i2i_command(["plugins", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    img = {m["name"]: m for m in rows["img2img"]["models"]}
    assert img["sr-x4"]["default"] and img["sr-x4"]["installed"] and not img["colorize"]["default"]
    assert [(m["name"], m["default"], m["installed"]) for m in rows["multi"]["models"]] == [
        ("a", False, True),
        ("b", True, True),
        ("c", False, False),
    ]
    assert [m["name"] for m in rows["seg2img"]["models"]] == ["default"]  # one default_checkpoint
    assert i2i_command(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "models: a, b (default), c (not installed)" in text
    assert "sr-x4 (default)" in text


def test_plugin_model_specs_and_paths(multi):
    mods = {"multi": get_modality("multi")}
    assert split_spec("multi:a", mods) == ("multi", "a")
    assert split_spec("multi", mods) == ("multi", None)
    assert split_spec("other:a", mods) is None
    (multi / "multi:a").write_text("")  # an existing path is a path, whatever it looks like
    assert split_spec(str(multi / "multi:a"), mods) is None
