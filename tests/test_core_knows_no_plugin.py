"""The core names no plugin and carries none of a plugin's objective: no plugin name, and none
of text2img's (caption, mismatch, ma_gp) or seg2img's (posterior) loss vocabulary in core/src.
Plugin knowledge belongs in the plugin, reached through hooks (loss terms, recipes, exports)."""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core" / "src"
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
WORDS = ["caption", "mismatch", "ma_gp", "posterior"]


def _plugin_names() -> list[str]:
    names = [p.name for p in PLUGINS.iterdir() if (p / "pyproject.toml").exists()]
    assert {"img2img", "text2img", "seg2img", "pose2img", "face2img"} <= set(names), names
    return names


def test_core_source_names_no_plugin_and_no_plugin_loss():
    pattern = re.compile("|".join(re.escape(w) for w in [*_plugin_names(), *WORDS]), re.IGNORECASE)
    found = [
        f"{path.relative_to(CORE)}:{n}: {line.strip()}"
        for path in sorted(CORE.rglob("*"))
        if path.is_file() and path.suffix in {".py", ".yaml", ".yml", ".md", ".txt", ".json", ".toml"}
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)
