"""Docs meta-test: every engine config key is documented in docs/config.md."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _keys(data: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in data.items():
        dotted = prefix + key
        if isinstance(value, dict) and value and not dotted.startswith("model."):
            out += _keys(value, dotted + ".")
        else:
            out.append(dotted)
    return out


def test_every_engine_key_is_documented():
    engine = yaml.safe_load((ROOT / "core/src/i2i/configs/engine.yaml").read_text())
    docs = (ROOT / "docs" / "config.md").read_text()
    missing = [k for k in _keys(engine) if f"`{k}`" not in docs]
    assert not missing, f"undocumented config keys: {missing}"
