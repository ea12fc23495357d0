"""Issue 16, loading side: what a downloaded checkpoint or config can make i2i do."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import torch

from i2i.errors import I2IError
from i2i.nets.foreign import check_safe_torch, load_torch_file

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = [ROOT / "core" / "pyproject.toml", *sorted((ROOT / "plugins").glob("*/pyproject.toml"))]


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: p.parent.name)
def test_every_package_requires_a_torch_with_safe_weights_only(pyproject: Path) -> None:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    torch_reqs = [d for d in deps if re.match(r"torch\b(?!vision)", d)]
    assert torch_reqs, f"{pyproject} does not require torch itself"
    lower = re.search(r">=\s*(\d+)\.(\d+)", torch_reqs[0])
    assert lower is not None and (int(lower[1]), int(lower[2])) >= (2, 6), torch_reqs[0]


def test_an_unsafe_torch_refuses_to_unpickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.pth"
    torch.save({"w": torch.zeros(1)}, path)
    assert set(load_torch_file(path)) == {"w"}
    check_safe_torch("2.6.0")
    with pytest.raises(I2IError, match="CVE-2025-32434"):
        check_safe_torch("2.5.1+cpu")
    monkeypatch.setattr(torch, "__version__", "2.4.0")
    with pytest.raises(I2IError, match="torch 2.4.0 cannot load"):
        load_torch_file(path)
