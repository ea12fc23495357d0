"""The shipped text encoder run by ONNX Runtime, reading the weights its own package ships.

Why: importing transformers' model code costs 4-6 s (it pulls in torch._dynamo and
torch.distributed.tensor), ten times the encoder's work on one prompt, and made a one-prompt
`i2i-run` take 7-8 s. ONNX Runtime and `tokenizers` start in about half a second.

What ships is only the encoder's *graph* (`encoders/<name>.onnx`, about 170 KB): its initializers
are ONNX external data that point, by byte offset, into the `model.safetensors` of the package that
ships the weights (safetensors stores each tensor raw and contiguous, exactly what ONNX external
data describes). So the 90 MB of weights are not copied, ONNX Runtime maps them from that file,
and the numbers are those transformers computes (max difference ~1e-6, tested). The graph is bound
to one weights file: `encoders/<name>.json` holds the SHA-256 of that file's safetensors header
(every tensor's name, dtype, shape and offsets); when the installed package differs, this path
declines and the conditioner uses transformers as before.

`python -m i2i_text2img.onnx_encoder build minilm` rebuilds the graph for the installed package.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from i2i.onnx_runtime import session

log = logging.getLogger("i2i.text2img")

WEIGHTS = "model.safetensors"
GRAPHS_DIR = "encoders"
# The encoder graph's interface, one definition for the shipped graph (`build`) and for
# `i2i export` (i2i_text2img.export): token ids and mask in, sentence vector and token features out.
INPUTS = ("input_ids", "attention_mask")
OUTPUTS = ("vector", "tokens", "token_mask")
AXES: dict[str, dict[int, str]] = {
    **{k: {0: "batch", 1: "length"} for k in (*INPUTS, "tokens", "token_mask")},
    "vector": {0: "batch"},
}


def safetensors_header(path: Path) -> tuple[bytes, int]:
    """(raw JSON header, offset of the first tensor byte) of a safetensors file."""
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        return fh.read(n), 8 + n


def padded(tokenizer: Any, limit: int, pad_token: str | None) -> Any:
    """A `tokenizers.Tokenizer` set to pad a batch to its longest text and truncate at `limit`
    tokens, as the conditioner's transformers tokenizer does (`padding=True, truncation=True`):
    the one place that configures it, for the ONNX inference path and the exported tokenizer.json.
    Configures `tokenizer` in place and returns it."""
    tokenizer.enable_truncation(max_length=int(limit))
    pad = pad_token or "[PAD]"
    pad_id = tokenizer.token_to_id(pad)
    tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad)
    return tokenizer


def _graph_files(name: str) -> tuple[Path, Path] | None:
    folder = resources.files("i2i_text2img").joinpath(GRAPHS_DIR)
    graph, meta = folder.joinpath(f"{name}.onnx"), folder.joinpath(f"{name}.json")
    if not (graph.is_file() and meta.is_file()):
        return None
    return Path(str(graph)), Path(str(meta))


@dataclass
class OnnxTextEncoder:
    """input text -> (sentence vectors, token features, mask) as numpy, exactly as TextConditioner
    computes them with transformers (the graph includes pooling and scaling)."""

    session: Any
    tokenizer: Any  # pads to the longest text, truncates at `limit`
    counter: Any  # neither pads nor truncates: counts a prompt's tokens
    limit: int
    hidden_size: int

    def token_count(self, text: str) -> int:
        return len(self.counter.encode(text).ids)

    def encode(self, texts: Sequence[str]) -> tuple[Any, Any, Any]:
        import numpy as np

        encoded = self.tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
        vector, tokens, token_mask = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return vector, tokens, token_mask


def load(name: str, model_dir: str | Path, max_length: int) -> OnnxTextEncoder | None:
    """The ONNX path for encoder `name` whose weights are in `model_dir`, or None (with the reason
    logged at debug level) when no graph ships for it, ONNX Runtime or tokenizers is missing, or
    the installed weights are not the ones the graph was built against."""
    files = _graph_files(name)
    if files is None:
        return None
    graph, meta_path = files
    model_dir = Path(model_dir)
    weights = model_dir / WEIGHTS
    try:
        import onnxruntime  # noqa: F401  (installed? else this path declines)
        from tokenizers import Tokenizer
    except ImportError as exc:
        log.debug("text encoder %s: no ONNX path (%s)", name, exc)
        return None
    meta = json.loads(meta_path.read_text())
    try:
        header, _ = safetensors_header(weights)
        config = json.loads((model_dir / "config.json").read_text())
        tok_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    except (OSError, ValueError, struct.error) as exc:
        log.debug("text encoder %s: no ONNX path (%s)", name, exc)
        return None
    if hashlib.sha256(header).hexdigest() != meta["header_sha256"]:
        log.debug("text encoder %s: installed weights differ from the ONNX graph's; using transformers", name)
        return None
    try:
        sess = session(graph.read_bytes(), external_data_dir=model_dir)
    except Exception as exc:  # an ONNX Runtime too old for the graph, or a damaged install: not fatal
        log.warning("text encoder %s: ONNX Runtime cannot load its graph (%s); using transformers", name, exc)
        return None
    limit = min(int(max_length), int(tok_config.get("model_max_length") or max_length))
    counter = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    counter.no_padding()
    counter.no_truncation()
    tokenizer = padded(
        Tokenizer.from_file(str(model_dir / "tokenizer.json")), limit, tok_config.get("pad_token")
    )
    return OnnxTextEncoder(sess, tokenizer, counter, limit, int(config["hidden_size"]))


def build(name: str, model_dir: str | Path, out_dir: str | Path) -> Path:
    """Export encoder `name` (transformers weights in `model_dir`) as a weightless graph into
    `out_dir`: `<name>.onnx` whose initializers point into `model_dir/model.safetensors`, and
    `<name>.json` with that file's header digest. Needs torch, transformers and onnx."""
    import tempfile

    import onnx
    import torch
    from onnx import TensorProto

    from i2i.export import onnx_export
    from i2i_text2img.conditioner import HFTextEncoder

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    hf = HFTextEncoder(str(model_dir), max_length=512)
    enc = hf.tokenizer(["a bird", "a small red bird with a short beak"], padding=True, return_tensors="pt")
    named = {k: enc[k] for k in INPUTS}
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.onnx"
        # no constant folding: every initializer stays a parameter under its own name (folding
        # would store transposed copies of the Linear weights that the safetensors file lacks)
        onnx_export(hf.graph, named, OUTPUTS, full, AXES, fold=False)
        graph = onnx.load(str(full))
    header_bytes, base = safetensors_header(model_dir / WEIGHTS)
    header = json.loads(header_bytes)
    for init in graph.graph.initializer:
        key = init.name.removeprefix("model.")
        entry = header.get(key)
        if entry is None or entry["dtype"] != "F32" or list(entry["shape"]) != list(init.dims):
            raise ValueError(f"{model_dir / WEIGHTS}: no float32 tensor {key!r} of shape {list(init.dims)}")
        start, end = entry["data_offsets"]
        init.ClearField("raw_data")
        init.data_location = TensorProto.EXTERNAL
        del init.external_data[:]
        for k, v in (("location", WEIGHTS), ("offset", str(base + start)), ("length", str(end - start))):
            item = init.external_data.add()
            item.key, item.value = k, v
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}.onnx"
    onnx.save(graph, str(out))
    meta = {
        "encoder": name,
        "weights": WEIGHTS,
        "header_sha256": hashlib.sha256(header_bytes).hexdigest(),
        "built_with": {"torch": torch.__version__, "onnx": onnx.__version__},
    }
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from i2i_text2img.conditioner import encoder_path

    parser = argparse.ArgumentParser(prog="python -m i2i_text2img.onnx_encoder")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("name", help="a shipped encoder's short name, e.g. minilm")
    default_out = Path(__file__).parent / GRAPHS_DIR
    parser.add_argument(
        "--out", type=Path, default=default_out, help="folder for <name>.onnx and <name>.json"
    )
    args = parser.parse_args(argv)
    print(build(args.name, encoder_path(args.name), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
