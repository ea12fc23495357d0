"""Model files fuzzed like user files (issue 16): safetensors headers, the config stored in an i2i
model file, and `.pth` state dicts for the importers. Each example either loads or raises the
one-line I2IError that the CLI prints with exit status 2; any other exception, or an example that
takes long (an allocation the file's weights do not back), fails the test."""

from __future__ import annotations

import io
import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_readers import FUZZ, _hostile, _mutated, deep_nesting, json_values

from i2i.engine import checkpoint
from i2i.errors import I2IError
from i2i.pipeline import load_pipeline

from tiny import tiny_model_file

SLOW_S = 20  # an example slower than this is a hang or an unbounded allocation


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("fuzz") / "model.safetensors")


def _loads_or_refuses(path: Path, plugin: str | None = None) -> None:
    start = time.perf_counter()
    try:
        load_pipeline(path, plugin=plugin, device="cpu")
    except I2IError as exc:
        line = str(exc)
        assert "\n" not in line and line.strip(), repr(line)
    assert time.perf_counter() - start < SLOW_S


def _header_file(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + body


def test_safetensors_headers(tmp_path_factory, model) -> None:
    raw = model.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header, body = raw[8 : 8 + length], raw[8 + length :]
    headers = st.one_of(
        _hostile(header),
        deep_nesting,
        json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
        st.binary(max_size=64),
    ).map(lambda h: _header_file(h, body))
    files = headers | _mutated(raw[:4096]) | st.binary(max_size=64)
    out = tmp_path_factory.mktemp("headers") / "model.safetensors"

    @FUZZ
    @given(files)
    def run(content: bytes) -> None:
        out.write_bytes(content)
        _loads_or_refuses(out)

    run()


def test_stored_configs(tmp_path_factory, model) -> None:
    meta, parts = checkpoint.load_model(model)
    tensors = {f"{name}.{k}": v for name, part in parts.items() for k, v in part.items()}
    base = {k: v for k, v in meta.items() if k not in ("sha256", "sha256_scope")}
    out = tmp_path_factory.mktemp("configs") / "model.safetensors"

    @FUZZ
    @given(_hostile(meta["config"].encode()))
    def run(config: bytes) -> None:
        out.unlink(missing_ok=True)  # written as a hostile author would: valid checksums
        checkpoint.atomic_save_tensors(out, tensors, {**base, "config": config.decode()})
        _loads_or_refuses(out)

    run()


@st.composite
def state_dicts(draw: Any, keys: list[str]) -> dict[str, torch.Tensor]:
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=12, unique=True))
    state = {}
    for key in chosen:
        shape = draw(
            st.lists(
                st.integers(1, 2048) if key.endswith("0.weight") else st.integers(1, 16),
                min_size=1,
                max_size=4,
            )
        )
        if torch.Size(shape).numel() > 2_000_000:
            shape = shape[:1]
        state[key] = torch.zeros(shape)
    return state


def test_pth_state_dicts_for_the_importers(tmp_path_factory) -> None:
    keys = [
        "model.model.0.weight", "model.model.1.weight", "model.model.1.bias", "model.model.1.running_mean",
        "model.model.3.model.0.weight", "model.model.3.model.1.weight", "model.model.10.weight",
        "model.1.weight", "model.1.running_mean", "model.4.conv_block.1.weight", "model.26.weight",
        "conv_first.weight", "body.0.rdb1.conv1.weight", "conv_last.weight", "params_ema",
        "model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight", "model.3.weight",
    ]  # fmt: skip
    out = tmp_path_factory.mktemp("pth") / "latest_net_G.pth"

    @FUZZ
    @given(state_dicts(keys) | st.binary(max_size=64).map(lambda b: {"__raw__": b}))
    def run(state: dict) -> None:
        if "__raw__" in state:
            out.write_bytes(state["__raw__"])
        else:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            out.write_bytes(buffer.getvalue())
        _loads_or_refuses(out, plugin="img2img")

    run()
