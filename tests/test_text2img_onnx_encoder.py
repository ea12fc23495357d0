"""text2img's ONNX Runtime encoder path: the shipped weightless graph gives transformers' numbers,
declines on other weights, and keeps transformers out of a one-prompt `i2i-run`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from i2i.errors import ConfigError
from i2i_text2img import onnx_encoder
from i2i_text2img.conditioner import TextConditioner, encoder_path

PROMPTS = [
    "red bird with short beak",
    "a small blue bird with a long thin beak and grey wings",
    "ein roter Vogel mit kurzem Schnabel 🐦 — ñ 鳥",
    "x",
    "red bird " * 100,  # beyond max_length: truncated alike
]


@pytest.fixture(scope="module")
def pair():
    fast, slow = TextConditioner(backend="onnx"), TextConditioner(backend="transformers")
    return fast, slow


def test_onnx_and_transformers_give_the_same_condition(pair):
    fast, slow = pair
    a, b = fast({"caption": PROMPTS}), slow({"caption": PROMPTS})
    assert type(fast._load()).__name__ == "_OnnxBackend"
    assert type(slow._load()).__name__ == "HFTextEncoder"
    assert torch.equal(a.token_mask, b.token_mask)
    assert a.tokens.shape == b.tokens.shape and a.tokens.shape[1] == fast.limit == slow.limit == 64
    assert float((a.vector - b.vector).abs().max()) < 1e-4
    assert float((a.tokens - b.tokens).abs().max()) < 1e-4
    assert (fast.dim, fast.token_count(PROMPTS[-1])) == (slow.dim, slow.token_count(PROMPTS[-1]))
    assert fast.token_count(PROMPTS[-1]) > 200  # counted without truncation, for the notice
    # one at a time (no padding) equals the padded batch
    one = fast({"caption": [PROMPTS[1]]})
    assert float((one.vector[0] - a.vector[1]).abs().max()) < 1e-5


def test_auto_takes_onnx_for_the_shipped_encoder_and_export_still_gets_transformers(pair):
    auto = TextConditioner()
    assert type(auto._load()).__name__ == "_OnnxBackend"
    model, tokenizer, limit = auto.text_encoder()  # what `i2i export` traces
    assert isinstance(model, torch.nn.Module) and limit == 64 and tokenizer("a")["input_ids"]


def _copy_encoder(tmp_path: Path) -> Path:
    src = Path(encoder_path("minilm"))
    dst = tmp_path / "minilm"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("model.safetensors"))
    return dst


def test_other_weights_are_declined_and_auto_falls_back(tmp_path, monkeypatch, pair):
    from safetensors.torch import load_file, save_file

    fast, _ = pair
    other = _copy_encoder(tmp_path)
    weights = load_file(str(Path(encoder_path("minilm")) / "model.safetensors"))
    weights["pooler.extra.weight"] = torch.zeros(3)  # same values, another layout of the file
    save_file(weights, str(other / "model.safetensors"))
    assert onnx_encoder.load("minilm", other, 64) is None  # header digest differs
    assert onnx_encoder.load("no-graph-for-this", encoder_path("minilm"), 64) is None
    monkeypatch.setattr("i2i_text2img.conditioner.encoder_path", lambda name: str(other))
    with pytest.raises(ConfigError, match="backend: onnx: no ONNX graph"):
        _ = TextConditioner(backend="onnx").dim
    auto = TextConditioner()
    assert type(auto._load()).__name__ == "HFTextEncoder"
    got = auto({"caption": PROMPTS[:2]}).vector
    assert float((got - fast({"caption": PROMPTS[:2]}).vector).abs().max()) < 1e-4
    with pytest.raises(ConfigError, match="not one of"):
        TextConditioner(backend="tensorflow")


def test_without_onnxruntime_auto_uses_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    cond = TextConditioner()
    assert type(cond._load()).__name__ == "HFTextEncoder"
    assert cond({"caption": ["a red bird"]}).vector.shape == (1, 384)


def test_build_reproduces_the_shipped_graph(tmp_path, pair):
    fast, _ = pair
    built = onnx_encoder.build("minilm", encoder_path("minilm"), tmp_path)
    shipped = json.loads((Path(onnx_encoder.__file__).parent / "encoders" / "minilm.json").read_text())
    assert json.loads(built.with_suffix(".json").read_text())["header_sha256"] == shipped["header_sha256"]
    assert built.stat().st_size < 1_000_000  # the graph only: weights stay in their package
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.add_session_config_entry(
        "session.model_external_initializers_file_folder_path", encoder_path("minilm")
    )
    session = onnxruntime.InferenceSession(built.read_bytes(), opts, providers=["CPUExecutionProvider"])
    enc = fast._load().encoder.tokenizer.encode_batch(PROMPTS[:2])
    ids = torch.tensor([e.ids for e in enc]).numpy()
    mask = torch.tensor([e.attention_mask for e in enc]).numpy()
    vector = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    assert abs(vector - fast({"caption": PROMPTS[:2]}).vector.numpy()).max() < 1e-5


def test_a_one_prompt_run_never_imports_transformers(tmp_path):
    out = tmp_path / "bird.png"
    code = (
        "import atexit, sys; from i2i.cli.main import run_main; "
        "atexit.register(lambda: print('transformers imported:', 'transformers' in sys.modules)); "
        f"run_main(['--plugin', 'text2img', '--prompt', 'red bird', '--out', {str(out)!r}])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "transformers imported: False" in proc.stdout
    assert out.stat().st_size > 0
