"""Helpers that install throwaway plugin distributions on sys.path (a .dist-info with entry points),
so tests exercise the real entry-point loading path without pip."""

from __future__ import annotations

import textwrap
from pathlib import Path

GOOD = """
from i2i import InputSpec, Modality, hookimpl

@hookimpl
def register_modalities(register):
    register(Modality(
        name="{name}", summary="test modality", inputs=[InputSpec("input")],
        config="i2i_img2img:configs/default.yaml",
        conditioner="i2i_img2img.conditioner:Img2ImgConditioner",
        dataset="i2i_img2img.data:Img2ImgDataset",
    ))
"""


def make_dist(root: Path, dist: str, entry: str, module: str, source: str, version: str = "1.2.3") -> None:
    """Write `module.py` and a minimal dist-info declaring entry point `entry` in group i2i."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[i2i]\n{entry} = {module}\n")
