"""Issue 16, loading side: what a downloaded checkpoint or config can make i2i do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import torch

from i2i.errors import I2IError
from i2i.nets.foreign import check_safe_torch, load_torch_file

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = [ROOT / "core" / "pyproject.toml", *sorted((ROOT / "plugins").glob("*/pyproject.toml"))]


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: p.parent.name)
def test_every_package_requires_a_torch_with_safe_weights_only(pyproject: Path) -> None:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    torch_reqs = [d for d in deps if re.match(r"torch\b(?!vision)", d)]
    assert torch_reqs, f"{pyproject} does not require torch itself"
    lower = re.search(r">=\s*(\d+)\.(\d+)", torch_reqs[0])
    assert lower is not None and (int(lower[1]), int(lower[2])) >= (2, 6), torch_reqs[0]


def test_an_unsafe_torch_refuses_to_unpickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.pth"
    torch.save({"w": torch.zeros(1)}, path)
    assert set(load_torch_file(path)) == {"w"}
    check_safe_torch("2.6.0")
    with pytest.raises(I2IError, match="CVE-2025-32434"):
        check_safe_torch("2.5.1+cpu")
    monkeypatch.setattr(torch, "__version__", "2.4.0")
    with pytest.raises(I2IError, match="torch 2.4.0 cannot load"):
        load_torch_file(path)


# ---- model files whose stored config is hostile ------------------------------------------------
import json  # noqa: E402
import time  # noqa: E402

from i2i.engine import checkpoint  # noqa: E402
from i2i.errors import InputError  # noqa: E402
from i2i.pipeline import load_pipeline  # noqa: E402

from tiny import tiny_model_file  # noqa: E402


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("tiny") / "model.safetensors")


def _with_config(src: Path, dst: Path, edit) -> Path:
    """A copy of `src` whose stored config text is `edit(config dict)` (a str: the raw text),
    written with valid checksums, as a hostile author would."""
    meta, parts = checkpoint.load_model(src)
    tensors = {f"{name}.{k}": v for name, part in parts.items() for k, v in part.items()}
    new = edit(json.loads(meta["config"]))
    meta = {k: v for k, v in meta.items() if k != "sha256"}
    meta["config"] = new if isinstance(new, str) else json.dumps(new)
    checkpoint.atomic_save_tensors(dst, tensors, meta)
    return dst


def _refused(path: Path, *words: str) -> str:
    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        load_pipeline(path, device="cpu")
    assert time.perf_counter() - start < 30
    line = str(info.value)
    assert "\n" not in line and str(path) in line, line
    for word in words:
        assert word in line, line
    return line


def test_the_tiny_file_itself_loads(tiny_file: Path) -> None:
    assert load_pipeline(tiny_file, device="cpu").generator is not None


def test_a_wider_network_than_the_weights_is_refused_before_allocating(tiny_file, tmp_path) -> None:
    def wide(c):
        c["model"]["generator"]["ngf"] = 4096
        return c

    _refused(
        _with_config(tiny_file, tmp_path / "wide.safetensors", wide), "needs", "values but the file holds"
    )


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda c: {**c, "model": "x"}, ("model must be dict",)),
        (lambda c: {**c, "train": {**c["train"], "steps": "5"}}, ("train.steps must be int",)),
        (lambda c: {**c, "plugin": ["x"]}, ("plugin must be str",)),
        (lambda c: "[" * 100_000, ("nested too deeply",)),
        (lambda c: '{"plugin": "img2img", "seed": ' + "9" * 5000 + "}", ("5000 digits",)),
        (lambda c: "[1, 2]", ("not a mapping",)),
        (
            lambda c: {
                **c,
                "model": {**c["model"], "generator": {**c["model"]["generator"], "num_downs": "five"}},
            },
            ("model.generator",),
        ),
    ],
)
def test_a_hostile_stored_config_is_one_line(tiny_file, tmp_path, edit, words) -> None:
    _refused(_with_config(tiny_file, tmp_path / "bad.safetensors", edit), *words)


def test_references_are_resolved_once_each_and_bounded(tiny_file, tmp_path) -> None:
    from i2i.config import ConfigError, resolve_references

    levels = {"l0": {"a": 1, "b": 2}}
    for i in range(1, 40):  # each level refers twice to the one below: 2**40 values unshared
        levels[f"l{i}"] = {"x": f"${{l{i - 1}}}", "y": f"${{l{i - 1}}}"}
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="values once references are resolved"):
        resolve_references(levels)
    small = {"l0": {"a": 1}, **{f"l{i}": {"x": f"${{l{i - 1}}}", "y": f"${{l{i - 1}}}"} for i in range(1, 8)}}
    assert resolve_references(small)["l7"]["x"]["y"]["x"]["y"]["x"]["y"]["x"] == {"a": 1}
    chain = {**{f"k{i}": f"${{k{i - 1}}}" for i in range(59, 0, -1)}, "k0": 1}  # k59 first: 59 deep
    with pytest.raises(ConfigError, match="chained more than"):
        resolve_references(chain)
    assert time.perf_counter() - start < 5
    nested = {
        "l0": {"a": 1},
        **{f"l{i}": {"x": f"${{data.l{i - 1}}}", "y": f"${{data.l{i - 1}}}"} for i in range(1, 40)},
    }
    edit = lambda c: {**c, "data": {**c["data"], **nested}}  # noqa: E731
    _refused(_with_config(tiny_file, tmp_path / "refs.safetensors", edit), "references are resolved")


def test_a_pix2pix_file_whose_width_promises_more_than_it_holds(tmp_path) -> None:
    path = tmp_path / "latest_net_G.pth"
    torch.save({"model.model.0.weight": torch.zeros(2048, 3, 4, 4)}, path)
    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        load_pipeline(path, plugin="img2img", device="cpu")
    assert time.perf_counter() - start < 30 and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (b"[" * 100_000, "nested too deeply"),
        (b'{"__metadata__": {"format": 7}}', "names to strings"),
        (b'{"__metadata__": {"n": ' + b"7" * 5000 + b"}}", "digits"),
        (b"\xff\xfe{}", "bad header"),
    ],
)
def test_a_hostile_safetensors_header_is_one_line(tmp_path, header: bytes, words: str) -> None:
    import struct

    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(InputError, match=words) as info:
        checkpoint.read_metadata(path)
    assert str(path) in str(info.value)


def test_a_model_file_cannot_make_i2i_download_the_encoder_it_names(tmp_path, monkeypatch, capsys) -> None:
    import socket

    from i2i.cli.main import _guard, run_command
    from i2i.modality import resolve_resource
    from i2i.plugins import get_modality

    shipped = resolve_resource(get_modality("text2img").default_checkpoint)

    def named(c):
        c["model"]["conditioner"]["encoder"] = "someone/any-encoder"
        c["model"]["conditioner"]["backend"] = "transformers"
        return c

    bad = _with_config(shipped, tmp_path / "t.safetensors", named)
    monkeypatch.delenv("I2I_ALLOW_DOWNLOADS", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("loading a model file reached for the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    out = tmp_path / "bird.png"
    status = _guard(run_command, ["--checkpoint", str(bad), "--prompt", "red bird", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and "I2I_ALLOW_DOWNLOADS=1" in err and "someone/any-encoder" in err, err
    assert err.count("\n") == 1 and not out.exists()
