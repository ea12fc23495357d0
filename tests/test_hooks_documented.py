"""Meta-tests: every hook in i2i.hookspecs is documented in docs/hooks.md and exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

from i2i import hookspecs

ROOT = Path(__file__).resolve().parents[1]


def _hooks() -> list[str]:
    return [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{hookspecs.PROJECT}_spec")
    ]


def test_there_are_hooks():
    assert set(_hooks()) >= {"register_modalities", "register_networks"}


def test_every_hook_has_a_docstring_and_a_doc_section():
    docs = (ROOT / "docs" / "hooks.md").read_text()
    for name in _hooks():
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"
        assert f"## {name}" in docs, f"docs/hooks.md has no section for {name}"


def test_every_hook_is_implemented_in_a_test_plugin():
    tests = "\n".join(
        p.read_text() for p in (ROOT / "tests").glob("test_*.py") if p.name != Path(__file__).name
    )
    for name in _hooks():
        assert f"def {name}(" in tests, f"no test implements the hook {name}"
