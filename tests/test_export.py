"""`i2i export --format onnx`: every plugin's generator, exported through the CLI, gives PyTorch's
images in ONNX Runtime (batch of 1 and 2, and another height and width where the graph is dynamic);
text2img runs from text to image in ONNX alone; bad formats and a missing extra fail in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from i2i.cli.main import main
from i2i.export import EXTRA_HINT, example_batch
from i2i.interfaces import Condition
from i2i.pipeline import draw_noise, load_pipeline

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

BIN = Path(sys.executable).parent
PLUGINS = ["img2img", "seg2img", "pose2img", "text2img", "face2img"]
TOLERANCE = 1e-3
FACE_TINY = [
    "data.size=32",
    "model.generator.ngf=8",
    "model.generator.levels=3",
    "model.conditioner.encoder_ngf=8",
    "model.discriminator.ndf=8",
    "model.discriminator.n_layers=2",
    "train.batch_size=4",
    "train.tensorboard=false",
    "train.sample_every=2",
    "train.checkpoint_every=2",
    "train.steps=2",
]
# One thread each: on a small machine that is also busy, OpenMP threads waiting on each other make
# these small convolutions 10-50x slower than one thread does.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def face_run(tmp_path_factory):
    """face2img ships no model: a tiny one trained for 2 steps on 4 demo clips."""
    from i2i_face2img.demo import write_faces

    root = tmp_path_factory.mktemp("face-export")
    write_faces(root / "data", n=4, seed=0, size=64, frames=6)
    cmd = [str(BIN / "i2i-train"), "--plugin", "face2img", "--data", str(root / "data")]
    cmd += ["--out", str(root / "run"), "--quiet"]
    for s in FACE_TINY:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr
    return root / "run"


@pytest.fixture(scope="module")
def exported(request, tmp_path_factory):
    """plugin -> (checkpoint, .onnx path, its JSON), each exported once through the CLI."""
    cache: dict[str, tuple[str, Path, dict]] = {}

    def get(plugin: str) -> tuple[str, Path, dict]:
        if plugin not in cache:
            source = str(request.getfixturevalue("face_run")) if plugin == "face2img" else plugin
            out = tmp_path_factory.mktemp(f"onnx-{plugin}") / "model.onnx"
            cmd = [str(BIN / "i2i"), "export", "--checkpoint", source, "--format", "onnx", "--out", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
            assert proc.returncode == 0, proc.stderr
            assert "max abs difference to PyTorch" in proc.stdout
            cache[plugin] = (source, out, json.loads(out.with_suffix(".json").read_text()))
        return cache[plugin]

    return get


def _session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _feed(session, cond: Condition, z: torch.Tensor | None) -> dict[str, np.ndarray]:
    given = {**cond._tensors(), **({"z": z} if z is not None else {})}
    return {i.name: given[i.name].numpy() for i in session.get_inputs()}


def _check(pipe, session, cond: Condition, seed: int) -> float:
    """Max abs difference between ONNX Runtime and the PyTorch generator on one condition."""
    dim = int(getattr(pipe.generator, "noise_dim", 0))
    z = draw_noise(cond.batch_size, dim, seed) if dim else None
    with torch.no_grad():
        expected = pipe.generator(cond, z).float().numpy()
    (got,) = session.run(None, _feed(session, cond, z))
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max())


@pytest.mark.parametrize("plugin", PLUGINS)
def test_the_onnx_generator_gives_pytorchs_images(plugin, exported):
    source, out, meta = exported(plugin)
    assert meta["plugin"] == plugin and meta["file"] == out.name and meta["config"]["plugin"] == plugin
    assert meta["output"]["shape"][:2] == [1, 3]
    pipe = load_pipeline(source, device="cpu")
    assert {p.dtype for p in pipe.generator.parameters()} == {torch.float32}  # fp16 files load as fp32
    with torch.no_grad():
        cond = pipe.conditioner(example_batch(pipe))
    session = _session(out)
    names = [i.name for i in session.get_inputs()]
    assert names == list(meta["inputs"])
    assert set(names) <= {"maps", "vector", "tokens", "token_mask", "refs", "z"}
    assert ("z" in names) == bool(getattr(pipe.generator, "noise_dim", 0))
    for name in names:
        if name != "z":
            assert list(getattr(cond, name).shape) == meta["inputs"][name]["shape"]
    diffs = [_check(pipe, session, cond, 0)]
    two = Condition(
        **{k: torch.cat([v, v.flip(-1) if v.is_floating_point() else v]) for k, v in cond._tensors().items()}
    )
    diffs.append(_check(pipe, session, two, 1))  # dynamic batch
    if meta["spatial"] == "dynamic":
        h, w = cond.maps.shape[-2:]
        m = meta["size_multiple"]
        size = (h + 2 * m, w + m)
        other = replace(
            cond,
            **{
                k: F.interpolate(v, size=size, mode="nearest")
                for k, v in cond._tensors().items()
                if k in ("maps", "refs")
            },
        )
        diffs.append(_check(pipe, session, other, 2))
    assert max(diffs) < TOLERANCE, diffs
    assert meta["spatial"] == ("none" if plugin == "text2img" else "dynamic")


def test_text2img_goes_from_text_to_image_in_onnx_alone(exported):
    from tokenizers import Tokenizer

    source, out, meta = exported("text2img")
    info = meta["text_encoder"]
    encoder = _session(out.with_name(info["file"]))
    generator = _session(out)
    tokenizer = Tokenizer.from_file(str(out.with_name(info["tokenizer"])))
    captions = ["a small red bird with a short beak", "a large blue bird with grey wings and a long beak"]
    encoded = tokenizer.encode_batch(captions)
    ids = np.array([e.ids for e in encoded], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
    features = dict(
        zip(["vector", "tokens", "token_mask"], encoder.run(None, {"input_ids": ids, "attention_mask": mask}))
    )
    z = draw_noise(2, meta["noise_dim"], 5)
    feed = {n: features[n] for n in meta["inputs"] if n != "z"} | {"z": z.numpy()}
    (image,) = generator.run(None, feed)

    pipe = load_pipeline(source, device="cpu")
    with torch.no_grad():
        cond = pipe.conditioner({"caption": captions})
        expected = pipe.generator(cond, z).numpy()
    assert np.abs(features["vector"] - cond.vector.numpy()).max() < TOLERANCE
    assert np.abs(features["tokens"] - cond.tokens.numpy()).max() < TOLERANCE
    assert np.abs(image - expected).max() < TOLERANCE


def _refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_an_unknown_format_exits_2_in_one_line_and_writes_nothing(tmp_path, capsys):
    err = _refused(
        ["export", "--checkpoint", "img2img", "--format", "tflite", "--out", str(tmp_path / "m.onnx")], capsys
    )
    assert "tflite" in err and "onnx" in err
    assert list(tmp_path.iterdir()) == []


def test_without_onnx_the_export_extra_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    err = _refused(["export", "--checkpoint", "img2img", "--out", str(tmp_path / "m.onnx")], capsys)
    assert EXTRA_HINT in err
    assert list(tmp_path.iterdir()) == []


class _Flat(torch.nn.Module):
    """A generator with its input size baked in (a Linear over all pixels): no dynamic H and W."""

    noise_dim = 0

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape
        self.fc = torch.nn.Linear(int(np.prod(shape)), int(np.prod(shape)))

    def forward(self, cond: Condition, z: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.fc(cond.maps.flatten(1))).view(-1, *self.shape)


class _Random(torch.nn.Module):
    """A generator whose output ONNX Runtime cannot reproduce (it draws its own noise)."""

    noise_dim = 0

    def forward(self, cond: Condition, z: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(cond.maps + torch.randn_like(cond.maps))


@pytest.fixture(scope="module")
def sr_pipe():
    return load_pipeline("img2img", device="cpu")


def test_a_generator_bound_to_its_size_is_exported_at_a_fixed_size(sr_pipe, tmp_path, monkeypatch):
    from i2i import export

    shape = tuple(sr_pipe.conditioner(example_batch(sr_pipe)).maps.shape[1:])
    monkeypatch.setattr(sr_pipe, "generator", _Flat(shape).eval())
    monkeypatch.setattr(export, "load_pipeline", lambda *a, **k: sr_pipe)
    result = export.export_onnx("img2img", tmp_path / "flat.onnx")
    assert result.spatial == "fixed" and result.max_abs_diff < TOLERANCE
    meta = json.loads((tmp_path / "flat.json").read_text())
    assert meta["spatial"] == "fixed" and meta["inputs"]["maps"]["dynamic_axes"] == {"0": "batch"}


def test_an_export_that_differs_from_pytorch_fails_and_leaves_no_file(sr_pipe, tmp_path, monkeypatch, capsys):
    from i2i import export

    monkeypatch.setattr(sr_pipe, "generator", _Random().eval())
    monkeypatch.setattr(export, "load_pipeline", lambda *a, **k: sr_pipe)
    err = _refused(["export", "--checkpoint", "img2img", "--out", str(tmp_path / "m.onnx")], capsys)
    assert "differs from PyTorch" in err
    assert list(tmp_path.iterdir()) == []
