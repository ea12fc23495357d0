"""The Hugging Face Hub layout (`i2i export --format hub`), `hf://` ids and `i2i push`.

No network: every `hf://` load reads a Hub cache the test fills itself in the cache's own layout
(`models--org--name/snapshots/<commit>/...` and `refs/main`), with HF_HUB_OFFLINE=1. The upload is
tested up to the HfApi calls, with the API object replaced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from i2i.cli.main import i2i_command, main, run_command
from i2i.engine.checkpoint import read_metadata
from i2i.errors import I2IError
from i2i.pipeline import load_pipeline
from i2i.plugins import get_manager
from i2i.shipped import shipped_models

COMMIT = "0123456789abcdef0123456789abcdef01234567"
EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "chelsea-small.png"


def _shipped() -> list[tuple[str, str]]:
    return [
        (name, m.name)
        for name, mod in sorted(get_manager().modalities().items())
        for m in shipped_models(mod)
        if m.installed
    ]


def fill_cache(cache: Path, repo: str, folder: Path, commit: str = COMMIT) -> Path:
    """Put `folder`'s files into the Hub cache at `cache` as revision `commit` of `repo`, with
    `refs/main` pointing at it: what a download would have left there."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for item in folder.iterdir():
        shutil.copyfile(item, snapshot / item.name)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def tiny_inputs(plugin: str, tmp: Path) -> dict:
    """A small input per plugin, as `pipe(...)` keywords."""
    from PIL import Image

    if plugin == "img2img":
        return {"input": Image.open(EXAMPLE).crop((0, 0, 32, 32))}
    if plugin == "text2img":
        return {"prompt": "red bird with short beak", "num_samples": 2}
    if plugin == "seg2img":
        labels = np.zeros((32, 32), np.int64)
        labels[16:] = 4  # sky over road
        return {"labels": labels, "num_samples": 2}
    if plugin == "pose2img":
        from i2i_pose2img.demo import person

        source, own = person(0, 90, 0, 64)
        _, pose = person(0, 90, 3, 64)

        def openpose(points):
            return {
                "people": [
                    {"pose_keypoints_2d": [v for x, y in points.tolist() for v in (x, y, float(x >= 0))]}
                ]
            }

        return {"source": source, "source_pose": openpose(own), "pose": openpose(pose)}
    if plugin == "face2img":
        from i2i_face2img.demo import face

        portrait, _ = face(0, 47, 0, 64)
        driving, _ = face(0, 47, 9, 64)
        return {"portrait": portrait, "driving": driving}
    if plugin == "unpaired":
        return {"input": Image.open(EXAMPLE).crop((0, 0, 32, 32)), "direction": "AtoB"}
    raise AssertionError(f"no tiny input for plugin {plugin}: add one here")


@pytest.mark.parametrize(("plugin", "model"), _shipped())
def test_every_shipped_model_round_trips_through_the_hub_cache(plugin, model, tmp_path, offline_cache):
    from i2i.hub_export import export_hub

    spec = f"{plugin}:{model}"
    result = export_hub(spec, tmp_path / "hub", repo=f"i2i-test/{plugin}-{model}", samples=False)
    names = {p.name for p in result.files}
    assert names == {"model.safetensors", "config.json", "README.md"}
    card = (tmp_path / "hub" / "README.md").read_text()
    first = get_manager().get_modality(plugin).inputs[0].option
    assert f"i2i-run --checkpoint hf://i2i-test/{plugin}-{model} {first}" in card.replace("\n", " ")
    original = load_pipeline(spec, device="cpu")
    assert read_metadata(tmp_path / "hub" / "model.safetensors") == read_metadata(original.source)
    fill_cache(offline_cache, f"i2i-test/{plugin}-{model}", tmp_path / "hub")

    hub = load_pipeline(f"hf://i2i-test/{plugin}-{model}", device="cpu")
    assert hub.source == f"hf://i2i-test/{plugin}-{model}"
    inputs = tiny_inputs(plugin, tmp_path)
    want = original(**inputs, seed=0)
    got = hub(**inputs, seed=0)
    assert len(got) == len(want) >= 1
    for a, b in zip(got, want):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    pinned = load_pipeline(f"hf://i2i-test/{plugin}-{model}@{COMMIT}", device="cpu")  # a revision
    weights, pinned_weights = original.generator.state_dict(), pinned.generator.state_dict()
    assert weights.keys() == pinned_weights.keys()
    assert all(torch.equal(weights[k], pinned_weights[k]) for k in weights)


def test_export_hub_cli_writes_the_hub_layout_and_card(tmp_path, capsys):
    out = tmp_path / "seg"
    status = i2i_command(
        ["export", "--checkpoint", "seg2img", "--format", "hub", "--out", str(out),
         "--repo", "me/streets", "--dataset", "me/street-scenes", "--tag", "spade", "--license", "apache-2.0"]
    )  # fmt: skip
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "samples.png",
    ]
    card = (out / "README.md").read_text()
    assert card.startswith("---\n")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == "i2i"
    assert front["pipeline_tag"] == "image-to-image"
    assert front["license"] == "apache-2.0"
    assert front["datasets"] == ["me/street-scenes"]
    assert {"i2i", "i2i-seg2img", "spade"} <= set(front["tags"])
    assert "hf://me/streets" in card and "![samples](samples.png)" in card
    assert "docs/notebooks.md" in card
    config = json.loads((out / "config.json").read_text())
    assert config["plugin"] == "seg2img" and config["plugin_distribution"] == "i2i-seg2img"
    assert config["i2i_version"] and config["config"]["data"]["num_classes"] == 10
    from PIL import Image

    with Image.open(out / "samples.png") as grid:
        assert grid.size[0] > 64 and grid.size[1] > 32
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_text_modality_is_text_to_image_and_eval_numbers_go_into_the_card(tmp_path):
    from i2i.hub_export import export_hub, pipeline_tag

    manager = get_manager()
    assert pipeline_tag(manager.get_modality("text2img")) == "text-to-image"
    assert pipeline_tag(manager.get_modality("img2img")) == "image-to-image"

    i2i_command(["data", "demo", "unpaired", "--out", str(tmp_path / "data"), "--seed", "0"])
    result = export_hub("unpaired", tmp_path / "hub", data=tmp_path / "data")
    assert result.evaluated and result.metrics
    card = (tmp_path / "hub" / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    metrics = front["model-index"][0]["results"][0]["metrics"]
    assert {m["type"] for m in metrics} == set(result.metrics)
    key, value = next(iter(result.metrics.items()))
    assert f"`{key}` | {value}" in card or f"`{key}` |" in card
    assert "Provenance: i2i 0.1.0" in card and "plugin_distribution i2i-unpaired" in card
    assert "samples from" in card and "columns: input | output" in card  # domain-A images, translated


@pytest.mark.parametrize("plugin", sorted(get_manager().modalities()))
def test_every_plugin_gets_a_sample_grid_from_its_demo_data(plugin, tmp_path):
    from PIL import Image

    from i2i.hub_export import sample_grid

    pipe = load_pipeline(plugin, device="cpu")
    about = sample_grid(pipe, tmp_path / "samples.png")
    assert f"the {plugin} demo data" in about and "output" in about
    with Image.open(tmp_path / "samples.png") as grid:
        assert grid.size[0] >= 32 and grid.size[1] >= 32


def test_hub_ids_are_checked_and_a_missing_model_is_one_line(offline_cache, capsys):
    from i2i.hub import parse

    assert parse("hf://org/name") == ("org/name", None)
    assert parse("hf://org/name@v1.0") == ("org/name", "v1.0")
    for bad in ("hf://noslash", "hf://org/../x", "hf://org/name@", "hf://a/b/c"):
        with pytest.raises(I2IError):
            parse(bad)
    with pytest.raises(I2IError, match="not in the Hugging Face cache .HF_HUB_OFFLINE=1"):
        load_pipeline("hf://i2i-test/missing", device="cpu")
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--checkpoint", "hf://i2i-test/missing", "--data", "."])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hf://i2i-test/missing" in err and "Traceback" not in err


def test_i2i_run_takes_an_hf_checkpoint(tmp_path, offline_cache):
    from i2i.hub_export import export_hub

    export_hub("unpaired", tmp_path / "hub", samples=False)
    fill_cache(offline_cache, "i2i-test/day-night", tmp_path / "hub")
    argv = ["--input", str(EXAMPLE), "--seed", "0", "--device", "cpu"]
    assert (
        run_command(["--checkpoint", "hf://i2i-test/day-night", *argv, "--out", str(tmp_path / "a.png")]) == 0
    )
    assert run_command(["--plugin", "unpaired", *argv, "--out", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_a_model_file_cannot_start_a_download(monkeypatch, tmp_path):
    """Inside a model file's load (`i2i.downloads.from_model_file`) an hf:// id is looked up in
    the cache only, even online."""
    import huggingface_hub

    from i2i import downloads, hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("I2I_ALLOW_DOWNLOADS", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    seen = {}

    def fake_download(repo, filename, **kwargs):
        seen.update(kwargs, repo=repo)
        raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    with downloads.from_model_file(), pytest.raises(I2IError, match="named inside a model file"):
        hub.download("hf://org/name")
    assert seen["local_files_only"] is True and seen["cache_dir"] == str(tmp_path)
    with pytest.raises(I2IError, match="cannot be reached"):
        hub.download("hf://org/name")  # the user's own choice: a download was allowed
    assert seen["local_files_only"] is False


class FakeApi:
    def __init__(self, token=None):
        self.calls = []

    def create_repo(self, **kwargs):
        self.calls.append(("create_repo", kwargs))

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        kwargs["files"] = sorted(p.name for p in folder.iterdir())
        kwargs["card"] = (folder / "README.md").read_text()
        self.calls.append(("upload_folder", kwargs))
        return "https://huggingface.co/me/model/commit/abc"


def test_push_exports_and_uploads_with_hfapi(monkeypatch, tmp_path, capsys):
    from i2i import hub

    made = []
    monkeypatch.setattr(hub, "make_api", lambda token=None: made.append(FakeApi(token)) or made[-1])
    assert i2i_command(["push", "unpaired", "me/day-night", "--private", "--no-samples"]) == 0
    (create, c), (upload, u) = made[0].calls
    assert create == "create_repo" and c == {
        "repo_id": "me/day-night",
        "repo_type": "model",
        "private": True,
        "exist_ok": True,
    }
    assert upload == "upload_folder" and u["repo_id"] == "me/day-night" and u["repo_type"] == "model"
    assert u["files"] == ["README.md", "config.json", "model.safetensors"]
    assert "hf://me/day-night" in u["card"]
    assert not Path(u["folder_path"]).exists()  # the temporary export is gone
    assert "pushed to me/day-night" in capsys.readouterr().out

    # an exported folder is uploaded as it is
    i2i_command(
        [
            "export",
            "--checkpoint",
            "unpaired",
            "--format",
            "hub",
            "--out",
            str(tmp_path / "hub"),
            "--no-samples",
        ]
    )
    assert i2i_command(["push", str(tmp_path / "hub"), "me/other"]) == 0
    assert made[1].calls[1][1]["folder_path"] == str(tmp_path / "hub")
    with pytest.raises(I2IError, match="takes no @revision"):
        i2i_command(["push", "unpaired", "me/x@v1"])
