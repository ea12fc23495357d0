"""Issue 16, plugins: a plugin's mistake fails that plugin alone, in one line, and no plugin can take
over a name the core or an earlier plugin holds."""

from __future__ import annotations

import json

import pytest

from i2i.cli.main import _run_base_parser, i2i_command
from i2i.modality import RESERVED_INPUT_NAMES

from plugin_env import make_dist

MODALITY = """
from i2i import InputSpec, Modality, hookimpl

@hookimpl
def register_modalities(register):
    register(Modality(
        name="{name}", summary="test modality", inputs={inputs},
        config="i2i_img2img:configs/default.yaml",
        conditioner="i2i_img2img.conditioner:Img2ImgConditioner",
        dataset="i2i_img2img.data:Img2ImgDataset",
    ))
"""


def _install(monkeypatch, tmp_path, *dists: tuple[str, str]) -> None:
    for entry, source in dists:
        # a module name of its own per test: an earlier test's module stays in sys.modules
        make_dist(tmp_path, f"i2i-{entry}", entry, f"i2i_{entry}_{abs(hash(str(tmp_path)))}", source)
    monkeypatch.syspath_prepend(str(tmp_path))


def _listing(capsys) -> dict[str, dict]:
    assert i2i_command(["plugins", "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        ('["image"]', "inputs[0] is a str, not an InputSpec"),
        ('[InputSpec("out")]', "input 'out' would clash with i2i-run's --out"),
        ('[InputSpec("seed", type="int")]', "would clash with i2i-run's --seed"),
        ('[InputSpec("a"), InputSpec("a")]', "two inputs are called 'a'"),
        ("[]", "inputs must be a non-empty list"),
        ('[InputSpec("Bad Name")]', "input name must match"),
    ],
)
def test_a_malformed_modality_fails_its_plugin_and_the_listing_still_works(
    fresh_plugins, monkeypatch, tmp_path, capsys, inputs: str, reason: str
) -> None:
    _install(monkeypatch, tmp_path, ("badspec", MODALITY.format(name="badspec", inputs=inputs)))
    rows = _listing(capsys)
    assert rows["img2img"]["status"] == "ok"
    assert rows["badspec"]["status"].startswith("failed") and reason in rows["badspec"]["status"]
    assert rows["badspec"]["inputs"] == [] and "\n" not in rows["badspec"]["status"]


@pytest.mark.parametrize(
    "exit_call", ["raise SystemExit(0)", "import sys; sys.exit(3)", "raise GeneratorExit"]
)
def test_a_plugin_that_exits_at_import_is_reported_and_the_command_goes_on(
    fresh_plugins, monkeypatch, tmp_path, capsys, exit_call: str
) -> None:
    _install(monkeypatch, tmp_path, ("quitter", exit_call))
    assert i2i_command(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "img2img" in out and "quitter" in out and "import failed" in out


def test_a_plugin_cannot_replace_a_core_network_even_asking_to_run_first(
    fresh_plugins, monkeypatch, tmp_path
):
    source = """
from i2i import hookimpl

@hookimpl(tryfirst=True)
def register_networks(register):
    register("unet", "builtins:dict", kind="generator")
    register("evil_net", "builtins:dict", kind="generator")
"""
    _install(monkeypatch, tmp_path, ("aaa_takeover", source))
    manager = fresh_plugins.get_manager()
    assert manager.get_network("generator", "unet").plugin == "i2i-core"
    info = {p.name: p for p in manager.plugins()}["aaa_takeover"]
    assert info.status == "failed" and "already registered by i2i-core" in info.reason


def test_two_plugins_claiming_one_name_resolve_by_plugin_name_not_load_order(
    fresh_plugins, monkeypatch, tmp_path
):
    late_first = """
from i2i import hookimpl

@hookimpl(tryfirst=True)
def register_recipes(register):
    register("twin", "builtins:dict")
"""
    plain = late_first.replace("(tryfirst=True)", "")
    _install(monkeypatch, tmp_path, ("zz_twin", late_first), ("aa_twin", plain))
    manager = fresh_plugins.get_manager()
    assert manager.get_recipe("twin").plugin == "i2i-aa_twin"
    assert {p.name: p for p in manager.plugins()}["zz_twin"].status == "failed"


def test_a_registered_name_must_be_a_plain_string(fresh_plugins, monkeypatch, tmp_path):
    source = "from i2i import hookimpl\n@hookimpl\ndef register_networks(register):\n    register(['x'], 'builtins:dict')\n"
    _install(monkeypatch, tmp_path, ("listname", source))
    info = {p.name: p for p in fresh_plugins.get_manager().plugins()}["listname"]
    assert info.status == "failed" and "network name must match" in info.reason


def test_every_option_of_i2i_run_is_reserved_from_plugin_inputs() -> None:
    options = {a.dest for a in _run_base_parser(add_help=True)._actions if a.option_strings}
    assert options - {"help"} <= RESERVED_INPUT_NAMES, options - RESERVED_INPUT_NAMES


def test_a_part_a_plugin_names_but_cannot_import_is_one_line(
    fresh_plugins, monkeypatch, tmp_path, capsys
) -> None:
    from i2i.cli.main import _guard, run_command

    source = MODALITY.format(name="lazy", inputs='[InputSpec("input")]').replace(
        "i2i_img2img.conditioner:Img2ImgConditioner", "i2i_not_installed.conditioner:Missing"
    )
    _install(monkeypatch, tmp_path, ("lazy", source))
    from PIL import Image

    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    from tiny import tiny_model_file

    model = tiny_model_file(tmp_path / "m.safetensors", plugin="lazy")
    argv = ["--checkpoint", str(model), "--input", str(tmp_path / "a.png"), "--out", str(tmp_path / "o.png")]
    status = _guard(run_command, argv)
    err = capsys.readouterr().err
    assert (
        status == 2 and "cannot load i2i_not_installed.conditioner:Missing" in err and err.count("\n") == 1
    ), err
