"""A plugin's own config values are checked before training starts (`Modality.validate_config`,
`i2i.validation.validate`): a bad `--set data.KEY=blob` is one line naming the key, exit status 2,
and no training step runs and nothing is written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from i2i import hookimpl
from i2i.config import Config
from i2i.errors import ConfigError
from i2i.validation import at_least, one_of, validate

CALLS: list[Config] = []


def check_masks(config) -> None:
    """The validator of a third-party plugin, written from the docs."""
    CALLS.append(config)
    one_of(config, "data.task", ("paired", "colorize", "edges", "sr"))
    at_least(config, "data.load_size", 1)


@pytest.fixture
def checked(fresh_plugins):
    """img2img's modality under another name, with a config validator."""
    from i2i_img2img.plugin import MODALITY

    modality = replace(MODALITY, name="checked", validate_config=check_masks)

    class Plugin:
        @hookimpl
        def register_modalities(self, register):
            register(modality)

    fresh_plugins.register(Plugin(), name="checked")
    CALLS.clear()
    return modality


def _train(argv: list[str]) -> int:
    from i2i.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["train", *argv])
    return info.value.code


def test_a_bad_plugin_value_is_one_line_exit_2_before_any_training(
    checked, demo_data, tmp_path, capsys, monkeypatch
):
    from i2i.engine import trainer

    def no_trainer(*args, **kwargs):
        raise AssertionError("the trainer was built despite a bad config value")

    monkeypatch.setattr(trainer, "Trainer", no_trainer)
    run = tmp_path / "run"
    argv = ["--plugin", "checked", "--data", str(demo_data), "--out", str(run), "--set", "data.task=blob"]
    assert _train(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: data.task: 'blob' is not one of paired, colorize, edges, sr"]
    assert not run.exists()
    assert CALLS and CALLS[-1]["data"]["task"] == "blob"  # called with the resolved config


def test_the_validator_sees_every_override_and_passes_good_values(checked):
    from i2i.config import load_config

    good = load_config(checked, sets=["data.task=sr"])
    validate(checked, good)
    assert [good] == CALLS
    with pytest.raises(ConfigError, match=r"^data.load_size: 0 must be a number of at least 1$"):
        validate(checked, load_config(checked, sets=["data.load_size=0"]))


def test_a_validator_that_fails_with_a_plain_error_is_still_one_line(checked):
    def sloppy(config) -> None:
        int(config["data"]["task"])  # ValueError on a word

    with pytest.raises(ConfigError, match="plugin checked: config rejected: ValueError") as info:
        validate(replace(checked, validate_config=sloppy), Config({"data": {"task": "paired"}}))
    assert len(str(info.value).splitlines()) == 1


def test_a_modality_without_a_validator_is_not_checked():
    from i2i_img2img.plugin import MODALITY

    assert MODALITY.validate_config is None
    validate(MODALITY, Config({"data": {"task": "blob"}}))  # nothing to call: no error
