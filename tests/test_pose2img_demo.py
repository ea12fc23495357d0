"""The pose2img demo people (`i2i data demo pose2img`): determinism, an identity that keeps its look
across poses, keypoints that sit on the drawn body, and the DeepFashion pose-transfer layout
(train/test images, .lst lists, "name:keypoints_y:keypoints_x" annotations, "from,to" pairs)."""

from __future__ import annotations

import ast
import csv

import numpy as np
import pytest

from i2i.errors import I2IError
from i2i_pose2img.demo import KEYPOINTS, person, write_people

NECK, R_HIP, L_HIP = KEYPOINTS.index("neck"), KEYPOINTS.index("r_hip"), KEYPOINTS.index("l_hip")


@pytest.fixture(scope="module")
def people() -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    return {(i, p): person(0, i, p) for i in range(8) for p in range(6)}


def _patch(image: np.ndarray, x: float, y: float, r: int = 2) -> np.ndarray:
    """Mean colour of the (2r+1)^2 pixels around (x, y)."""
    i, j = round(y), round(x)
    return image[i - r : i + r + 1, j - r : j + r + 1].reshape(-1, 3).astype(np.float64).mean(0)


def _mid_torso(points: np.ndarray) -> np.ndarray:
    return (points[NECK] + (points[R_HIP] + points[L_HIP]) / 2) / 2


def test_keypoints_are_the_openpose_18():
    assert len(KEYPOINTS) == 18 and len(set(KEYPOINTS)) == 18
    assert KEYPOINTS[:2] == ("nose", "neck") and KEYPOINTS[-2:] == ("r_ear", "l_ear")


def test_same_seed_same_bytes_other_seed_differs():
    image, points = person(3, 5, 2)
    again, points_again = person(3, 5, 2)
    assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
    assert points.dtype == np.float32 and points.shape == (18, 2)
    assert image.tobytes() == again.tobytes() and points.tobytes() == points_again.tobytes()
    assert person(4, 5, 2)[0].tobytes() != image.tobytes()
    assert person(3, 5, 3)[0].tobytes() != image.tobytes()


@pytest.mark.parametrize("size", [128, 256])
def test_other_sizes_scale_the_figure(size):
    image, points = person(0, 1, 0, size)
    _, small_points = person(0, 1, 0)
    assert image.shape == (size, size, 3)
    visible = points[:, 0] >= 0
    assert np.abs(points[visible] * 64 / size - small_points[visible]).max() < 1.0


def test_keypoints_inside_image_and_on_the_body(people):
    missing = 0
    for image, points in people.values():
        visible = (points >= 0).all(1)
        missing += int((~visible).sum())
        assert ((points == -1).all(1) | visible).all()  # a point is missing in both coordinates
        assert visible[:14].all() and visible[14:16].all()  # only ears go missing
        assert (points[visible] >= 0).all() and (points[visible] <= 63).all()
        corner = image[:2, :2].reshape(-1, 3).astype(np.float64).mean(0)
        for k in (NECK, R_HIP, L_HIP):
            x, y = np.round(points[k]).astype(int)
            assert np.abs(image[y, x].astype(np.float64) - corner).max() > 25, KEYPOINTS[k]
    assert missing > 0  # turned heads hide an ear sometimes


def test_identity_keeps_its_clothes_across_poses(people):
    torso = {key: _patch(image, *_mid_torso(points)) for key, (image, points) in people.items()}
    for i in range(8):
        colours = np.stack([torso[i, p] for p in range(6)])
        assert np.abs(colours - colours.mean(0)).max() < 40, i
    means = np.stack([np.mean([torso[i, p] for p in range(6)], 0) for i in range(8)])
    gaps = [np.abs(means[a] - means[b]).max() for a in range(8) for b in range(a + 1, 8)]
    assert np.median(gaps) > 40
    backgrounds = [people[i, 0][0][0, 0].astype(int) for i in range(8)]
    assert len({tuple(b) for b in backgrounds}) > 1


def test_poses_of_one_identity_differ(people):
    for i in range(4):
        points = [people[i, p][1] for p in range(6)]
        spread = max(np.abs(points[a] - points[b]).max() for a in range(6) for b in range(a + 1, 6))
        assert spread > 5


def test_write_people_layout(tmp_path):
    counts = write_people(tmp_path, n=3, seed=1, size=32)
    assert counts == {"train": 12, "test": 6}
    for split, count in counts.items():
        names = (tmp_path / f"{split}.lst").read_text().split()
        assert len(names) == count and len(set(names)) == count
        assert sorted(p.name for p in (tmp_path / split).iterdir()) == sorted(names)
        assert all(name.startswith("id") and "_pose" in name and name.endswith(".png") for name in names)
        lines = (tmp_path / f"annotation-{split}.csv").read_text().splitlines()
        assert lines[0] == "name:keypoints_y:keypoints_x"
        seen = set()
        for line in lines[1:]:
            name, ys, xs = line.split(":")
            ys, xs = ast.literal_eval(ys), ast.literal_eval(xs)
            assert len(ys) == len(xs) == 18 and all(isinstance(v, int) for v in ys + xs)
            assert all(-1 <= v < 32 for v in ys + xs)
            assert all((y == -1) == (x == -1) for y, x in zip(ys, xs))
            seen.add(name)
        assert seen == set(names)
        with open(tmp_path / f"pairs-{split}.csv", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["from", "to"]
        pairs = rows[1:]
        assert len(pairs) == len(set(map(tuple, pairs))) == (count // 6) * 6 * 5
        for a, b in pairs:
            assert a in seen and b in seen and a != b and a.split("_")[0] == b.split("_")[0]
    train_ids = {n.split("_")[0] for n in (tmp_path / "train.lst").read_text().split()}
    test_ids = {n.split("_")[0] for n in (tmp_path / "test.lst").read_text().split()}
    assert not train_ids & test_ids and max(train_ids) < min(test_ids)


def test_write_people_is_deterministic_and_checks_n(tmp_path):
    assert write_people(tmp_path / "a", n=1, size=32) == {"train": 6, "test": 0}
    write_people(tmp_path / "b", n=1, size=32)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    with pytest.raises(I2IError, match="at least 1"):
        write_people(tmp_path / "c", n=0)
