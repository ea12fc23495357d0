"""Docs meta-test: every engine config key, and every loss term and recipe the core registers,
is documented in docs/config.md."""

from __future__ import annotations

from pathlib import Path

import yaml

from i2i.config import TERM_SECTIONS
from i2i.plugins import get_manager

ROOT = Path(__file__).resolve().parents[1]


def _keys(data: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in data.items():
        dotted = prefix + key
        if (
            isinstance(value, dict)
            and value
            and not dotted.startswith("model.")
            and dotted not in TERM_SECTIONS
        ):
            out += _keys(value, dotted + ".")
        else:
            out.append(dotted)
    return out


def test_every_engine_key_is_documented():
    engine = yaml.safe_load((ROOT / "core/src/i2i/configs/engine.yaml").read_text())
    docs = (ROOT / "docs" / "config.md").read_text()
    missing = [k for k in _keys(engine) if f"`{k}`" not in docs]
    assert not missing, f"undocumented config keys: {missing}"


def test_every_registered_loss_term_and_recipe_is_documented():
    docs = (ROOT / "docs" / "config.md").read_text()
    manager = get_manager()
    names = {e.name for e in manager.loss_terms()} | {e.name for e in manager.recipes()}
    missing = sorted(n for n in names if f"`{n}`" not in docs)
    assert not missing, f"loss terms / recipes not in docs/config.md: {missing}"
