"""The real-photo corpus script and the pieces of the shipped photo models (EDSR-style x4 body,
colorization scores), on the pip-installable photos only: the test suite never needs the apt
wallpaper packages the full corpus reads."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from i2i.interfaces import Condition
from i2i_img2img.color_metrics import color_scores, colourfulness, mean_ab, tinted
from i2i_img2img.edsr import sr_edsr
from i2i_img2img.photos import TEST

SCRIPT = Path(__file__).parents[1] / "plugins" / "img2img" / "scripts" / "make_photo_corpus.py"


def _corpus_module():
    spec = importlib.util.spec_from_file_location("make_photo_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules.setdefault("make_photo_corpus", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_corpus_split_is_by_photo_and_every_file_has_provenance(tmp_path):
    """Pip photos only: held-out photos are whole files in test/, no training tile comes from one,
    every file names its source and licence, and --color-only drops the gray photos."""
    corpus = _corpus_module()
    manifest = corpus.write_corpus(tmp_path / "c", max_side=256, tile=128, color_only=False, use_apt=False)
    files = manifest["files"]
    train = {k: v for k, v in files.items() if k.startswith("train/")}
    test = {k: v for k, v in files.items() if k.startswith("test/")}
    assert {v["name"] for v in test.values()} == set(TEST)
    assert not {v["name"] for v in train.values()} & corpus.HELD_OUT
    assert all(v["licence"] and v["package"] and v["path"] for v in files.values())
    assert all((tmp_path / "c" / k).is_file() for k in files)
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["files"] == files
    assert any(v["gray"] for v in train.values())  # camera, coins, moon ... are gray
    color = corpus.write_corpus(tmp_path / "k", max_side=256, tile=128, color_only=True, use_apt=False)
    assert color["files"] and not any(v["gray"] for v in color["files"].values())


def test_corpus_tiles_cover_the_photo_on_a_grid():
    corpus = _corpus_module()
    from PIL import Image

    pieces = corpus.tiles(Image.new("RGB", (300, 200)), 100)
    assert [name for name, _ in pieces] == ["r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2"]
    assert all(p.size == (100, 100) for _, p in pieces)
    assert corpus.fit(Image.new("RGB", (2000, 1000)), 1024).size == (1024, 512)
    assert corpus.fit(Image.new("RGB", (200, 100)), 1024).size == (200, 100)  # never enlarged


def test_corpus_apt_sources_are_photographs_with_licences():
    """The wallpaper table: no OpenCV sample (the independent check), every entry licensed."""
    corpus = _corpus_module()
    sources = corpus.apt_sources()
    assert len({s.name for s in sources}) == len(sources) >= 30
    assert all(s.licence and s.package and "opencv" not in s.path.lower() for s in sources)


def test_edsr_starts_at_bicubic_and_upscales_by_its_factor():
    g = sr_edsr(n_blocks=2, nf=8, scale=4)
    x = torch.rand(1, 3, 10, 12) * 2 - 1
    out = g(Condition(maps=x))
    assert out.shape == (1, 3, 40, 48)
    bicubic = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.equal(out, bicubic)  # zero-initialised tail: training starts at bicubic
    out.abs().mean().backward()
    assert g.tail.weight.grad is not None and g.tail.weight.grad.abs().sum() > 0


def test_colour_scores_and_baselines():
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.uniform(-1, 1, (3, 32, 32))).float()
    gray = tinted(target, (0.0, 0.0))
    assert torch.allclose(gray[0], gray[1], atol=1e-2) and torch.allclose(gray[1], gray[2], atol=1e-2)
    same = color_scores(target, target)
    assert same["ab_mae"] < 0.5 and same["psnr"] > 60
    worse = color_scores(gray, target)
    assert worse["ab_mae"] > 10 and worse["colourfulness"] < 1 < same["colourfulness"]
    assert colourfulness(np.full((8, 8, 3), 128, np.uint8)) == 0.0
    red = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 4, 4)
    a, b = mean_ab([red])
    assert a > 50 and b > 50  # sRGB red: a* 80, b* 67
    assert color_scores(tinted(target, (a, b)), target)["colourfulness"] > worse["colourfulness"]


@pytest.mark.parametrize("name", TEST)
def test_held_out_photos_are_not_in_training(name):
    from i2i_img2img.photos import TRAIN

    assert name not in TRAIN and name in _corpus_module().HELD_OUT
