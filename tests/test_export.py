"""`i2i export --format onnx`: every plugin's generator, exported through the CLI, gives PyTorch's
images in ONNX Runtime (batch of 1 and 2, and another height and width where the graph is dynamic);
text2img runs from text to image in ONNX alone, through the parts its plugin offers; a condition's
named parts become inputs `parts.<name>`; the core writes whatever parts a plugin offers, and
nothing when one differs from PyTorch; bad formats and a missing extra fail in one line."""

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
from i2i.export import EXTRA_HINT, ExportPart, example_batch
from i2i.interfaces import Condition, Generator
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
    given = {**cond.named_tensors(), **({"z": z} if z is not None else {})}
    return {i.name: given[i.name].numpy() for i in session.get_inputs()}


def _check(pipe, session, cond: Condition, seed: int) -> float:
    """Max abs difference between ONNX Runtime and the PyTorch generator on one condition."""
    dim = int(pipe.generator.noise_dim)
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
    fields = {"maps", "vector", "tokens", "token_mask", "refs", "z"}
    assert all(n in fields or n.startswith("parts.") for n in names), names
    assert ("z" in names) == bool(pipe.generator.noise_dim)
    given = cond.named_tensors()
    for name in names:
        if name != "z":
            assert list(given[name].shape) == meta["inputs"][name]["shape"]
    diffs = [_check(pipe, session, cond, 0)]
    two = Condition.from_named(
        {k: torch.cat([v, v.flip(-1) if v.is_floating_point() else v]) for k, v in given.items()}
    )
    diffs.append(_check(pipe, session, two, 1))  # dynamic batch
    if meta["spatial"] == "dynamic":
        spatial = {k: v for k, v in given.items() if v.dim() == 4 and k in meta["inputs"]}
        h, w = next(iter(spatial.values())).shape[-2:]
        m = meta["size_multiple"]
        size = (h + 2 * m, w + m)
        other = Condition.from_named(
            {k: F.interpolate(v, size=size, mode="nearest") if k in spatial else v for k, v in given.items()}
        )
        diffs.append(_check(pipe, session, other, 2))
    assert max(diffs) < TOLERANCE, diffs
    assert meta["spatial"] == ("none" if plugin == "text2img" else "dynamic")


def test_text2img_goes_from_text_to_image_in_onnx_alone(exported):
    from tokenizers import Tokenizer

    source, out, meta = exported("text2img")
    assert list(meta["parts"]) == ["text_encoder"]
    info = meta["parts"]["text_encoder"]
    assert info["file"] == "model.text_encoder.onnx" and info["files"] == {
        "tokenizer.json": "model.tokenizer.json"
    }
    assert info["max_abs_diff"] < TOLERANCE and info["outputs"] == ["vector", "tokens", "token_mask"]
    encoder = _session(out.with_name(info["file"]))
    generator = _session(out)
    tokenizer = Tokenizer.from_file(str(out.with_name(info["files"]["tokenizer.json"])))
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


class _Flat(Generator):
    """A generator with its input size baked in (a Linear over all pixels): no dynamic H and W."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape
        self.fc = torch.nn.Linear(int(np.prod(shape)), int(np.prod(shape)))

    def forward(self, cond: Condition, z: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.fc(cond.maps.flatten(1))).view(-1, *self.shape)


class _Random(Generator):
    """A generator whose output ONNX Runtime cannot reproduce (it draws its own noise)."""

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


class _PartConditioner(torch.nn.Module):
    """The shipped conditioner plus a named part: a one-channel mask made from the input."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, batch):
        cond = self.inner(batch)
        return replace(cond, parts={"mask": (cond.maps[:, :1] > 0).float()})


class _ReadsPart(Generator):
    """A generator that reads `cond.parts["mask"]` by name beside `cond.maps`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, cond: Condition, z: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.conv(torch.cat([cond.maps, cond.parts["mask"]], 1)))


def test_named_condition_parts_become_onnx_inputs_by_name(sr_pipe, tmp_path, monkeypatch):
    from i2i import export

    monkeypatch.setattr(sr_pipe, "conditioner", _PartConditioner(sr_pipe.conditioner))
    monkeypatch.setattr(sr_pipe, "generator", _ReadsPart().eval())
    monkeypatch.setattr(export, "load_pipeline", lambda *a, **k: sr_pipe)
    result = export.export_onnx("img2img", tmp_path / "parts.onnx")
    assert result.max_abs_diff < TOLERANCE and result.spatial == "dynamic"
    session = _session(tmp_path / "parts.onnx")
    assert [i.name for i in session.get_inputs()] == ["maps", "parts.mask"]
    meta = json.loads((tmp_path / "parts.json").read_text())
    assert meta["inputs"]["parts.mask"]["dynamic_axes"] == {"0": "batch", "2": "height", "3": "width"}
    with torch.no_grad():
        cond = sr_pipe.conditioner(example_batch(sr_pipe))
    flipped = replace(cond, parts={"mask": 1 - cond.parts["mask"]})
    assert _check(sr_pipe, session, flipped, 0) < TOLERANCE  # the graph reads the part it is given
    (a,) = session.run(None, _feed(session, cond, None))
    (b,) = session.run(None, _feed(session, flipped, None))
    assert np.abs(a - b).max() > 1e-2


class _Scale(torch.nn.Module):
    def __init__(self, noisy: bool = False) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)
        self.noisy = noisy

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.fc(x)
        if self.noisy:  # not reproducible by ONNX Runtime
            y = y + torch.randn_like(y)
        return y, y.sum(1) > 0


def _offer(module: torch.nn.Module):
    def parts(pipe, batch):
        assert "input" in batch  # the plugin sees the example batch
        return [
            ExportPart(
                name="scaler",
                module=module,
                inputs={"x": torch.randn(2, 4)},
                outputs=("y", "positive"),
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}, "positive": {0: "batch"}},
                checks=[{"x": torch.randn(5, 4)}],
                files={"vocab.txt": lambda path: path.write_text("a\nb\n")},
                info={"what": "a test part"},
            )
        ]

    return parts


def test_core_export_writes_and_checks_the_parts_a_plugin_offers(sr_pipe, tmp_path, monkeypatch):
    from i2i import export

    module = _Scale().train()
    monkeypatch.setattr(sr_pipe, "modality", replace(sr_pipe.modality, exports=_offer(module)))
    monkeypatch.setattr(export, "load_pipeline", lambda *a, **k: sr_pipe)
    result = export.export_onnx("img2img", tmp_path / "m.onnx")
    assert module.training  # its mode is restored
    part = result.parts["scaler"]
    assert part.model == tmp_path / "m.scaler.onnx" and part.files == {"vocab.txt": tmp_path / "m.vocab.txt"}
    assert (tmp_path / "m.vocab.txt").read_text() == "a\nb\n" and part.max_abs_diff < TOLERANCE
    meta = json.loads((tmp_path / "m.json").read_text())["parts"]["scaler"]
    assert meta["file"] == "m.scaler.onnx" and meta["files"] == {"vocab.txt": "m.vocab.txt"}
    assert meta["what"] == "a test part" and meta["outputs"] == ["y", "positive"]
    x = torch.randn(7, 4)
    y, positive = _session(part.model).run(None, {"x": x.numpy()})
    with torch.no_grad():
        want_y, want_positive = module(x)
    assert np.abs(y - want_y.numpy()).max() < TOLERANCE and (positive == want_positive.numpy()).all()


def test_a_part_that_differs_from_pytorch_fails_and_leaves_no_file(sr_pipe, tmp_path, monkeypatch, capsys):
    from i2i import export

    monkeypatch.setattr(sr_pipe, "modality", replace(sr_pipe.modality, exports=_offer(_Scale(noisy=True))))
    monkeypatch.setattr(export, "load_pipeline", lambda *a, **k: sr_pipe)
    err = _refused(["export", "--checkpoint", "img2img", "--out", str(tmp_path / "m.onnx")], capsys)
    assert "part 'scaler' differs from PyTorch" in err
    assert list(tmp_path.iterdir()) == []


def test_core_export_names_no_plugin():
    """Export knows no plugin: what a part is lives in the plugin (`Modality.exports`)."""
    import re

    import i2i.export
    import i2i.onnx_runtime

    for module in (i2i.export, i2i.onnx_runtime):
        text = Path(module.__file__).read_text()
        assert not re.search(r"caption|text2img|tokeniz|text_encoder", text, re.IGNORECASE), module
