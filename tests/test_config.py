"""Config: defaults as schema, presets, --set overrides, clear errors for unknown keys and types."""

from __future__ import annotations

import pytest

from i2i.config import load_config, read_yaml
from i2i.errors import ConfigError
from i2i.plugins import get_modality


@pytest.fixture
def img2img():
    return get_modality("img2img")


def test_defaults_merge_engine_and_plugin(img2img):
    cfg = load_config(img2img)
    assert cfg.plugin == "img2img"
    assert cfg.loss.generator.l1 == 100.0 and cfg.loss.gan == "vanilla"  # plugin overrides engine
    assert cfg.loss.generator.adversarial == 1.0  # engine default term survives beside the plugin's
    assert cfg.train.keep_last == 3  # engine default survives
    assert cfg.model.generator.name == "unet"


def test_set_overrides_with_types(img2img):
    cfg = load_config(img2img, sets=["train.steps=7", "optim.lr_g=1", "optim.betas_d=[0.0, 0.99]"])
    assert cfg.train.steps == 7
    assert cfg.optim.lr_g == 1.0 and isinstance(cfg.optim.lr_g, float)
    assert cfg.optim.betas_d == [0.0, 0.99]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.stepz=3", "unknown config key 'train.stepz'"),
        ("train.steps=abc", "train.steps must be int, got str"),
        ("train.channels_last=3", "must be bool"),
        ("nothing", "expected key=value"),
        ("data.bogus.deep=1", "unknown config key 'data.bogus'"),
    ],
)
def test_bad_overrides_are_one_line_errors(img2img, setting, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(img2img, sets=[setting])
    assert "\n" not in str(info.value)


def test_presets_and_files(img2img, tmp_path):
    sr = load_config(img2img, "sr")
    assert sr.model.generator.name == "sr_resnet"
    assert "num_downs" not in sr.model.generator  # a new network name replaces the section
    assert sr.data.task == "sr"
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  steps: 11\nmodel:\n  generator:\n    ngf: 8\n")
    mine = load_config(img2img, path)
    assert mine.train.steps == 11 and mine.model.generator.ngf == 8 and mine.model.generator.name == "unet"


def test_bad_config_files(img2img, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML at line"):
        load_config(img2img, bad)
    other = tmp_path / "other.yaml"
    other.write_text("plugin: seg2img\n")
    with pytest.raises(ConfigError, match="for plugin 'seg2img'"):
        load_config(img2img, other)
    with pytest.raises(ConfigError, match="no such config file or preset"):
        load_config(img2img, tmp_path / "missing.yaml")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        read_yaml(scalar)


def test_unknown_network_parameter_is_a_config_error(img2img):
    from i2i.engine.build import build_generator

    cfg = load_config(img2img, sets=["model.generator.wings=2"])
    with pytest.raises(ConfigError, match="unknown parameter 'wings'"):
        build_generator(cfg)
    cfg = load_config(img2img, sets=["model.generator.name=nonet"])
    with pytest.raises(ConfigError, match="unknown generator network 'nonet'"):
        build_generator(cfg)


def test_references_follow_their_key_and_can_be_overridden():
    from i2i.config import resolve_references

    data = {
        "data": {"num_classes": 10},
        "model": {
            "generator": {"num_classes": "${data.num_classes}"},
            "d": {"n": "${model.generator.num_classes}"},
        },
    }
    out = resolve_references(data)
    assert out["model"]["generator"]["num_classes"] == 10 and out["model"]["d"]["n"] == 10
    assert data["model"]["generator"]["num_classes"] == "${data.num_classes}"  # input untouched
    with pytest.raises(ConfigError, match="unknown config key 'data.nope'"):
        resolve_references({"a": "${data.nope}", "data": {}})
    with pytest.raises(ConfigError, match="circular"):
        resolve_references({"a": "${b}", "b": "${a}"})


def test_a_reference_default_accepts_any_override(img2img, tmp_path):
    from i2i.config import merge

    base = {"data": {"n": 3}, "model": {"k": "${data.n}"}}
    assert merge(base, {"model": {"k": 5}}, "test")["model"]["k"] == 5
