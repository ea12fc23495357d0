"""docs/reference/api.md is generated from the docstrings and must be up to date with them.

When this fails after a docstring change, regenerate the page: `python scripts/gen_reference.py`.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "api.md"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "scripts" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(gen):
    return gen.render()


def test_the_committed_page_is_what_the_docstrings_give(rendered):
    assert PAGE.read_text(encoding="utf-8") == rendered, (
        "docs/reference/api.md is out of date with the docstrings: run python scripts/gen_reference.py"
    )


def _section(page: str, module: str) -> str:
    match = re.search(rf"^## `{re.escape(module)}`:.*?(?=^## `|\Z)", page, re.M | re.S)
    assert match, f"no section for {module}"
    return match.group(0)


def test_every_listed_module_has_a_section_and_the_plugin_author_helpers_are_in_it(gen, rendered):
    for module, _ in gen.MODULES:
        _section(rendered, module)
    wanted = {
        "i2i": ["load_pipeline", "Pipeline", "Modality", "Conditioner"],
        "i2i.pipeline": ["class `Pipeline(", "`load_pipeline(", "`generate(self"],
        "i2i.keys": ["`TARGET = 'target'`", "`DOMAIN_A = 'a'`", "`VIDEO_FRAME"],
        "i2i.data.folders": ["class `PhotoFolder(", "`split_names(", "`match_by_name("],
        "i2i.data.images": ["`read_image(", "`list_images(", "`image_to_tensor(", "`save_image("],
        "i2i.data.transforms": ["class `PairedTransform("],
        "i2i.data.video": ["class `VideoWriter(", "`iter_video_frames("],
        "i2i.metrics": ["evaluate(pipe: Pipeline, data: Path"],
        "i2i.metrics.paired": ["`image_scores(", "`mean_scores("],
        "i2i.engine.autoprecision": ["`choose_precision(candidates: Sequence[Precision], time_step"],
    }
    for module, needles in wanted.items():
        section = _section(rendered, module)
        for needle in needles:
            assert needle in section, f"{needle!r} missing from the {module} section"


def test_the_data_metric_and_precision_helpers_all_have_docstrings(gen, rendered):
    mine = [m for m, _ in gen.MODULES if m.startswith(("i2i.data", "i2i.metrics", "i2i.engine."))]
    for module in mine:
        assert "*(no docstring)*" not in _section(rendered, module), module
        # and so do their public methods: a bare "- `method(...)`" line has none
        bare = [line for line in _section(rendered, module).splitlines() if re.fullmatch(r"- `[^`]*`", line)]
        assert not bare, f"{module}: methods without a docstring: {bare}"


def test_signatures_are_stable_and_written_as_in_the_source(rendered):
    assert " at 0x" not in rendered  # no object addresses
    assert "splits: Mapping[str, Sequence[str]] = SPLIT_FOLDERS" in rendered  # defaults as written
    assert "'str'" not in _section(rendered, "i2i.data.images")  # string annotations unquoted


def test_check_mode_fails_on_a_stale_page_and_writes_nothing(gen, tmp_path, capsys):
    stale = tmp_path / "api.md"
    stale.write_text("# old\n")
    assert gen.main(["--check", "--out", str(stale)]) == 1
    assert "python scripts/gen_reference.py" in capsys.readouterr().err and stale.read_text() == "# old\n"
    assert gen.main(["--out", str(stale)]) == 0 and gen.main(["--check", "--out", str(stale)]) == 0
