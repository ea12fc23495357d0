"""seg2img demo scenes: deterministic, in the documented layout, and learnable (each class has its
own look) but not a pure function of the labels (per-scene style)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from i2i.errors import I2IError
from i2i_seg2img.demo import BUILDING, CAR, CLASSES, PERSON, ROAD, SKY, VEGETATION, scene, write_scenes


def test_same_seed_same_scene_other_seed_other_scene():
    a, b, c = scene(0, 3, 64), scene(0, 3, 64), scene(1, 3, 64)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_layout_classes_and_instances(tmp_path):
    counts = write_scenes(tmp_path, n=16, seed=0, size=64)
    assert counts == {"train": 14, "test": 2}
    meta = json.loads((tmp_path / "classes.json").read_text())
    assert [c["name"] for c in meta["classes"]] == [name for name, _ in CLASSES] and meta[
        "ignore_index"
    ] == 255
    assert len({tuple(c["color"]) for c in meta["classes"]}) == len(CLASSES)
    for split, n in counts.items():
        for sub in ("labels", "images", "instances"):
            assert len(list((tmp_path / split / sub).glob("*.png"))) == n
    seen = set()
    for i in range(16):
        labels, photo, instances = scene(0, i, 64)
        assert labels.max() < len(CLASSES) and photo.shape == (64, 64, 3)
        things = np.isin(labels, [CAR, PERSON])
        assert np.array_equal(instances > 0, things)
        seen |= set(np.unique(labels).tolist())
    assert len(seen) >= len(CLASSES) - 1


def test_classes_look_different_and_style_varies():
    means = {k: [] for k in (SKY, ROAD, VEGETATION, BUILDING)}
    for i in range(12):
        labels, photo, _ = scene(0, i, 64)
        for k in means:
            if (labels == k).any():
                means[k].append(photo[labels == k].mean(0))
    avg = {k: np.mean(v, 0) for k, v in means.items()}
    for a in avg:
        for b in avg:
            if a < b:
                assert np.abs(avg[a] - avg[b]).sum() > 40, (a, b)
    walls = np.array(means[BUILDING])
    assert walls.std(0).max() > 15  # wall colour is per-scene style, not fixed by the map


def test_n_must_be_positive(tmp_path):
    with pytest.raises(I2IError, match="at least 1"):
        write_scenes(tmp_path, n=0)
