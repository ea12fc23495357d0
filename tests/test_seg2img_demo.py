"""The seg2img demo street scenes (`i2i data demo seg2img`): the on-disk layout the plugin's reader
expects, determinism, consistent label and instance maps, and photos a model can learn from (each
class its own colour) without being a pure function of the map (per-scene style)."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from PIL import Image

from i2i.errors import I2IError
from i2i_seg2img.demo import CLASSES, scene, write_scenes

ID = {name: i for i, (name, _) in enumerate(CLASSES)}
THINGS = (ID["car"], ID["person"])


@pytest.fixture(scope="module")
def scenes() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [scene(0, i, 64) for i in range(16)]


def _class_mean(labels: np.ndarray, photo: np.ndarray, cls: int) -> np.ndarray:
    return photo[labels == cls].astype(np.float64).mean(0)


def _files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_classes_are_the_street_classes_with_distinct_colours():
    names = [name for name, _ in CLASSES]
    assert names == [
        "sky",
        "building",
        "window",
        "door",
        "road",
        "sidewalk",
        "vegetation",
        "terrain",
        "car",
        "person",
    ]
    colours = np.array([colour for _, colour in CLASSES], np.float64)
    # colour-coded maps are matched within 40 RGB units (i2i_seg2img.labels.COLOUR_TOLERANCE)
    assert min(np.linalg.norm(a - b) for a, b in combinations(colours, 2)) > 40


def test_layout_counts_and_classes_json(tmp_path):
    out = tmp_path / "scenes"
    assert write_scenes(out, n=9, seed=0, size=32) == {"train": 8, "test": 1}
    expected = {"train": [f"{i:05d}.png" for i in range(8)], "test": ["00008.png"]}
    for split, names in expected.items():
        for sub, mode in (("labels", "L"), ("images", "RGB"), ("instances", "I;16")):
            folder = out / split / sub
            assert sorted(p.name for p in folder.iterdir()) == names
            with Image.open(folder / names[0]) as image:
                assert (image.mode, image.size) == (mode, (32, 32))
    labels, photo, instances = scene(0, 8, 32)  # file names are the scene index
    assert np.array_equal(np.asarray(Image.open(out / "test/labels/00008.png")), labels)
    assert np.array_equal(np.asarray(Image.open(out / "test/images/00008.png")), photo)
    assert np.array_equal(np.asarray(Image.open(out / "test/instances/00008.png")), instances)
    meta = json.loads((out / "classes.json").read_text())
    assert meta == {
        "classes": [
            {"id": i, "name": name, "color": list(colour)} for i, (name, colour) in enumerate(CLASSES)
        ],
        "ignore_index": 255,
    }
    assert write_scenes(tmp_path / "one", n=1, size=8) == {"train": 1, "test": 0}
    assert write_scenes(tmp_path / "sixteen", n=16, size=8) == {"train": 14, "test": 2}
    assert sorted(p.name for p in (tmp_path / "sixteen/test/images").iterdir()) == ["00014.png", "00015.png"]


def test_same_seed_same_bytes_other_seed_other_scenes(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_scenes(tmp_path / name, n=3, seed=seed, size=32)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if "/images/" in k)


def test_n_below_one_is_an_error(tmp_path):
    for n in (0, -2):
        with pytest.raises(I2IError, match="--n must be at least 1"):
            write_scenes(tmp_path / "none", n=n)
    assert not (tmp_path / "none").exists()


def test_label_and_instance_maps_agree(scenes):
    present = set()
    objects = 0
    for labels, photo, instances in scenes:
        assert (labels.dtype, labels.shape) == (np.uint8, (64, 64))
        assert (photo.dtype, photo.shape) == (np.uint8, (64, 64, 3))
        assert (instances.dtype, instances.shape) == (np.uint16, (64, 64))
        assert labels.max() < len(CLASSES)
        present |= set(np.unique(labels).tolist())
        assert np.array_equal(instances > 0, np.isin(labels, THINGS))  # every car/person pixel, only them
        for k in np.unique(instances[instances > 0]):
            assert len(np.unique(labels[instances == k])) == 1  # one object, one class
        objects += len(np.unique(instances)) - 1
    assert present == set(range(len(CLASSES)))
    assert objects >= 16  # cars and people are common, each with its own id


def test_each_class_has_its_own_colour(scenes):
    labels = np.stack([s[0] for s in scenes])
    photos = np.stack([s[1] for s in scenes])
    sky, road, vegetation, sidewalk = (
        _class_mean(labels, photos, ID[n]) for n in ("sky", "road", "vegetation", "sidewalk")
    )
    for a, b in combinations((sky, road, vegetation, sidewalk), 2):
        assert np.linalg.norm(a - b) > 40, (a, b)
    assert sky[2] > sky[0] + 40  # blue
    assert vegetation[1] > vegetation[0] + 20 and vegetation[1] > vegetation[2] + 20  # green
    assert road.max() - road.min() < 20 and road.mean() < sidewalk.mean() - 40  # dark grey


def test_photo_is_not_a_function_of_the_labels(scenes):
    """Wall colours, exposure and the like are per-scene style: the same class looks different."""
    walls = np.array([_class_mean(labels, photo, ID["building"]) for labels, photo, _ in scenes])
    roads = np.array([_class_mean(labels, photo, ID["road"]) for labels, photo, _ in scenes])
    assert max(np.linalg.norm(a - b) for a, b in combinations(walls, 2)) > 60
    assert np.ptp(roads.mean(1)) > 15
