"""The shipped default unpaired model (day <-> night, the demo preset): runs from the plugin name
alone in both directions, and on held-out demo scenes (the test split of `i2i data demo unpaired
--seed 0`, which its training never saw) the plugin's own proxy domain judge calls its
translations by their target domain far more often than it calls the untranslated inputs so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.pipeline import load_pipeline
from i2i_unpaired.demo import random_scene, render, write_demo
from i2i_unpaired.evaluate import scores

BIN = Path(sys.executable).parent
TEST_SPLIT = 1  # the split id of testA/testB in write_demo's random streams


def held_out(domain: int, index: int) -> Image.Image:
    """Held-out demo scene `index` of domain 0 (day, A) or 1 (night, B), seed 0, 64x64."""
    rng = np.random.default_rng((0, domain, TEST_SPLIT, index))
    return render(random_scene(rng), night=bool(domain), size=64)


@pytest.fixture(scope="module")
def shipped_scores(tmp_path_factory):
    """The evaluator's scores of the shipped model on 8 held-out scenes per domain (its judge is
    trained on the 32 first training scenes per domain, a few seconds, then cached)."""
    data = tmp_path_factory.mktemp("day2night")
    write_demo(data, n=32, seed=0)  # testA/testB: the first 8 held-out scenes of --n 120 as well
    assert np.array_equal(np.asarray(Image.open(data / "testB" / "00003.png")), np.asarray(held_out(1, 3)))
    return scores(load_pipeline("unpaired", device="cpu"), data, "test")


@pytest.mark.parametrize("way", ["AtoB", "BtoA"])
def test_translations_are_judged_as_the_other_domain(shipped_scores, way):
    result = shipped_scores[way]
    assert result["ceiling"] >= 0.9, result  # the judge knows real images of the target domain
    # the untranslated inputs are (almost) never the target domain; the translations mostly are
    assert result["domain_score"] >= result["floor"] + 0.6, result
    assert result["change"] > 0.1, result  # the model really changes the image
    assert result["cycle_l1"] < 0.1, result  # and the round trip comes back close to it


@pytest.mark.parametrize("way, domain", [("AtoB", 0), ("BtoA", 1)])
def test_i2i_run_with_only_the_plugin_name(tmp_path, way, domain):
    source = tmp_path / "in.png"
    held_out(domain, 0).save(source)
    out = tmp_path / "out.png"
    cmd = [str(BIN / "i2i-run"), "--plugin", "unpaired", "--input", str(source), "--direction", way]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    before, after = (np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in (source, out))
    assert after.shape == before.shape == (64, 64, 3)
    # day -> night darkens the scene, night -> day brightens it
    assert (after.mean() < before.mean() - 20) if way == "AtoB" else (after.mean() > before.mean() + 20)
