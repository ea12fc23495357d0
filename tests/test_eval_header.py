"""Every plugin's evaluator returns the one documented result header (`i2i.metrics.result`):
plugin, checkpoint, data, split, n, metrics, notes, provenance; `i2i eval --json` prints it, and
wraps an evaluator written before the header into it. Judges are replaced by untrained ones and the
data is a few demo samples, so this checks the shape of every result, fast, not its numbers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from i2i.metrics.result import HEADER
from i2i.pipeline import load_pipeline

PROVENANCE = {"i2i", "plugin_distribution", "plugin_version", "torch", "device", "evaluated_at"}


def _img2img(root: Path, monkeypatch) -> None:
    from i2i_img2img.demo import write_demo

    write_demo(root, n=10, seed=0, size=64)


def _seg2img(root: Path, monkeypatch) -> None:
    from i2i_seg2img import evaluate
    from i2i_seg2img.demo import write_scenes

    write_scenes(root, n=4, seed=0)
    monkeypatch.setattr(
        evaluate, "segmenter_for", lambda data, cfg, k, ignore: evaluate.Segmenter(k, 8).eval()
    )


def _text2img(root: Path, monkeypatch) -> None:
    from i2i_text2img import evaluate
    from i2i_text2img.demo import write_birds

    write_birds(root, n=6, seed=0)
    monkeypatch.setattr(evaluate, "judge", lambda data, cfg: evaluate.AttributeClassifier(8).eval())


def _pose2img(root: Path, monkeypatch) -> None:
    from i2i_pose2img import evaluate
    from i2i_pose2img.demo import write_people

    write_people(root, n=4, seed=0)
    monkeypatch.setattr(evaluate, "detector_for", lambda data, cfg: evaluate.KeypointDetector(8).eval())


def _face2img(root: Path, monkeypatch) -> None:
    from i2i_face2img.demo import write_faces

    write_faces(root, n=2, seed=0, size=64, frames=4)


SETUP = {
    "img2img": _img2img,
    "seg2img": _seg2img,
    "text2img": _text2img,
    "pose2img": _pose2img,
    "face2img": _face2img,
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def check_header(result: dict, plugin: str, data: Path, split: str) -> None:
    assert set(result) == set(HEADER), list(result)
    assert result["plugin"] == plugin and result["checkpoint"].endswith(".safetensors")
    assert result["data"] == str(data) and result["split"] == split
    assert isinstance(result["n"], int) and result["n"] >= 1
    assert isinstance(result["metrics"], dict) and result["metrics"]
    assert not set(result["metrics"]) & set(HEADER)  # the header is not repeated inside
    assert isinstance(result["notes"], str) and result["notes"]
    assert set(result["provenance"]) == PROVENANCE
    assert result["provenance"]["plugin_distribution"] == f"i2i-{plugin}"
    json.dumps(result)  # printable as JSON by `i2i eval --json`


@pytest.mark.parametrize("plugin", sorted(SETUP))
def test_every_plugins_evaluator_returns_the_common_header(plugin, tmp_path, monkeypatch):
    from i2i.modality import resolve_object

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    SETUP[plugin](tmp_path / "data", monkeypatch)
    pipe = load_pipeline(plugin, device="cpu")
    evaluate = resolve_object(pipe.modality.evaluator)
    result = evaluate(pipe, tmp_path / "data", split="train", limit=2)
    check_header(result, plugin, tmp_path / "data", "train")
    assert result["n"] == 2


def test_i2i_eval_json_prints_the_header(tmp_path, capsys):
    from i2i.cli.main import main

    _img2img(tmp_path / "data", None)
    argv = ["eval", "--checkpoint", "img2img", "--data", str(tmp_path / "data"), "--split", "train"]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--limit", "1", "--device", "cpu", "--json"])
    assert info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    check_header(result, "img2img", tmp_path / "data", "train")
    assert result["n"] == 1 and {"l1", "psnr", "ssim"} <= set(result["metrics"]["model"])


def test_i2i_eval_wraps_an_evaluator_written_before_the_header(tmp_path, capsys, monkeypatch):
    from i2i import pipeline
    from i2i.cli.main import main

    def old_style(pipe, data, split="test", limit=None):
        return {"plugin": "img2img", "images": 3, "model": {"l1": 0.5}, "metric_notes": "l1 on [0,1]"}

    pipe = load_pipeline("img2img", device="cpu")
    pipe.modality = replace(pipe.modality, evaluator=old_style)
    monkeypatch.setattr(pipeline, "load_pipeline", lambda *a, **k: pipe)
    with pytest.raises(SystemExit) as info:
        main(["eval", "--checkpoint", "img2img", "--data", str(tmp_path), "--json"])
    assert info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    check_header(result, "img2img", tmp_path, "test")
    assert (
        result["n"] == 3 and result["metrics"] == {"model": {"l1": 0.5}} and result["notes"] == "l1 on [0,1]"
    )
