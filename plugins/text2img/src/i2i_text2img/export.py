"""text2img's exportable parts (`Modality.exports`): the frozen text encoder and its tokenizer.

The conditioner's encoder is a plain tensor program too (token ids and mask -> sentence vector,
token features and mask, `SentenceEncoder`), so `i2i export` writes it beside the generator as
`<stem>.text_encoder.onnx`, with the tokenizer as `<stem>.tokenizer.json` (for the `tokenizers`
package, set to pad and truncate as the conditioner does): the whole text -> image path then runs
in ONNX Runtime. The core's export knows nothing of text; this module tells it what to trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from i2i.export import ExportPart
from i2i_text2img.onnx_encoder import AXES, INPUTS, OUTPUTS, padded

FALLBACK = "a small bird"  # the example text when the example batch carries none
OTHER = ["a bird", "a small yellow bird with a long pointed beak and grey wings"]  # other lengths


def _texts(batch: Mapping[str, Any]) -> list[str]:
    given = batch.get("caption") or [FALLBACK]
    return [given] if isinstance(given, str) else list(given)


def _tokens(tokenizer: Any, texts: Sequence[str], limit: int) -> dict[str, Tensor]:
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt")
    return {k: enc[k] for k in INPUTS}


def _write_tokenizer(tokenizer: Any, limit: int, path: Path) -> None:
    """The fast tokenizer as one tokenizer.json, padding and truncating as the conditioner does
    (`onnx_encoder.padded`)."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    padded(backend, limit, tokenizer.pad_token).save(str(path))


def parts(pipe: Any, batch: Mapping[str, Any]) -> list[ExportPart]:
    """The text encoder, traced on the example's captions plus a shorter text (padding is part of
    the graph) and checked at other lengths; its tokenizer.json where a fast tokenizer exists."""
    conditioner = pipe.conditioner
    graph, tokenizer, limit = conditioner.text_encoder()
    texts = _texts(batch)
    example = _tokens(tokenizer, [*texts, OTHER[0]], limit)
    checks = [_tokens(tokenizer, [*texts, *OTHER], limit), _tokens(tokenizer, OTHER[1:], limit)]
    with torch.no_grad():
        vector, tokens, _ = graph(*example.values())
    files = {}
    if getattr(tokenizer, "backend_tokenizer", None) is not None:  # a fast (Rust) tokenizer
        files["tokenizer.json"] = partial(_write_tokenizer, tokenizer, limit)
    if hasattr(tokenizer, "write_vocabulary"):  # DF-GAN's DAMSM encoder: its word list (vocab.json)
        files["vocab.json"] = tokenizer.write_vocabulary
    info = {
        "inputs_meaning": {"input_ids": "int64 (B, T)", "attention_mask": "int64 (B, T), 1 for real tokens"},
        "outputs_meaning": {
            "vector": f"float32 (B, {vector.shape[1]})",
            "tokens": f"float32 (B, T, {tokens.shape[2]})",
            "token_mask": "bool (B, T)",
        },
        "encoder": conditioner.encoder_name,
        "max_length": limit,
    }
    return [ExportPart("text_encoder", graph, example, OUTPUTS, AXES, checks, files, info)]
