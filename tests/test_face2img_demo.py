"""The face2img demo faces (`i2i data demo face2img`): determinism, 68 iBUG landmarks that sit on the
drawn features, talking (the inner lips part over a dark mouth), blinking (the lids meet and hide
the eye whites), head motion, one identity per clip, and the VoxCeleb-style clip layout with its
landmarks.json cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from i2i.errors import I2IError
from i2i_face2img.demo import clip_name, face, split_sizes, write_faces
from i2i_face2img.landmarks import read_landmark_frames

SIZE, FRAMES, CLIPS = 128, 16, 6
Frames = list[tuple[np.ndarray, np.ndarray]]


@pytest.fixture(scope="module")
def clips() -> dict[int, Frames]:
    return {c: [face(0, c, t) for t in range(FRAMES)] for c in range(CLIPS)}


def _patch(image: np.ndarray, point: np.ndarray, r: int = 1) -> np.ndarray:
    """Mean colour of the (2r+1)^2 pixels around `point` (x, y)."""
    i, j = round(float(point[1])), round(float(point[0]))
    return image[i - r : i + r + 1, j - r : j + r + 1].reshape(-1, 3).astype(np.float64).mean(0)


def _skin(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Cheek colour: halfway between the jaw and the nose on both sides."""
    return (_patch(image, (points[2] + points[31]) / 2) + _patch(image, (points[14] + points[35]) / 2)) / 2


def _inside(points: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Pixels whose centre is inside the polygon `points`."""
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(points.ravel().tolist(), fill=1)
    return np.asarray(mask, bool)


def _eye_whites(image: np.ndarray, points: np.ndarray) -> int:
    """Near-white, unsaturated pixels around both eyes (skin, even pale skin, is too saturated)."""
    rgb = image.astype(np.int32)
    white = (rgb.min(-1) > 170) & (np.ptp(rgb, -1) < 25)
    count = 0
    for eye in (slice(36, 42), slice(42, 48)):
        lo = np.floor(points[eye].min(0)).astype(int) - 1
        hi = np.ceil(points[eye].max(0)).astype(int) + 2
        count += int(white[lo[1] : hi[1], lo[0] : hi[0]].sum())
    return count


def _upright(points: np.ndarray) -> np.ndarray:
    """Landmarks rotated so that the line between the outer eye corners is horizontal (head roll undone)."""
    dx, dy = points[45] - points[36]
    c, s = dx / np.hypot(dx, dy), dy / np.hypot(dx, dy)
    return (points - points[36]) @ np.array([[c, -s], [s, c]])


def _gap(points: np.ndarray, a: int, b: int) -> float:
    return float(np.hypot(*(points[a] - points[b])))


def test_same_seed_same_bytes_other_seed_clip_frame_differ():
    image, points = face(3, 5, 2)
    again, points_again = face(3, 5, 2)
    assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE, 3)
    assert points.dtype == np.float32 and points.shape == (68, 2)
    assert image.tobytes() == again.tobytes() and points.tobytes() == points_again.tobytes()
    for other in (face(4, 5, 2), face(3, 6, 2), face(3, 5, 3)):
        assert other[0].tobytes() != image.tobytes() and not np.array_equal(other[1], points)


@pytest.mark.parametrize("size", [64, 256])
def test_other_sizes_scale_the_face(size):
    image, points = face(1, 2, 3, size)
    assert image.shape == (size, size, 3)
    np.testing.assert_allclose(points * SIZE / size, face(1, 2, 3)[1], atol=1e-3)


def test_bad_arguments_raise_one_line_errors(tmp_path):
    calls = (
        lambda: write_faces(tmp_path, n=1),
        lambda: write_faces(tmp_path, size=31),
        lambda: write_faces(tmp_path, frames=1),
        lambda: write_faces(tmp_path, seed=-1),
        lambda: face(0, 0, 0, 16),
    )
    for call in calls:
        with pytest.raises(I2IError) as error:
            call()
        assert "\n" not in str(error.value)
    assert not any(tmp_path.iterdir())


def test_landmarks_inside_the_image_in_ibug_order(clips):
    for frames in clips.values():
        for _, p in frames:
            assert (p >= 2).all() and (p <= SIZE - 3).all()
            x, y = _upright(p).T
            assert x[0] < x[4] < x[8] < x[12] < x[16]  # jaw from the image's left round the chin
            assert (
                y[8] >= np.sort(y[:17])[-3] and y[8] > y[48:68].max()
            )  # the chin: lowest, give or take roll
            assert x[17] < x[21] < x[22] < x[26]  # right brow (image left), then left brow
            assert (np.diff(y[27:31]) > 0).all() and (np.diff(x[31:36]) > 0).all()  # bridge down; nostrils
            assert x[36] < x[39] < x[42] < x[45]  # outer, inner corner; inner, outer corner
            assert y[37] < y[41] + 0.01 and y[44] < y[46] + 0.01  # upper lids above lower lids
            assert y[[17, 21, 22, 26]].max() < y[36:48].min()  # brows above eyes
            assert y[36:48].max() < y[30] < y[33] < y[51]  # eyes, nose tip, nose base, lips
            assert x[48] < x[51] < x[54] and x[60] < x[62] < x[64] and x[48] < x[57] < x[54]
            assert y[51] < y[62] <= y[66] + 1e-3 and y[66] < y[57]  # outer top, inner top, inner bottom


def test_landmarks_lie_on_the_drawn_features(clips):
    for frames in clips.values():
        image, p = max(frames, key=lambda f: _gap(f[1], 37, 41))  # eyes open
        skin = _skin(image, p)
        grey = image.mean(-1)
        for k in (19, 24, 32, 34):  # brow middles and nostrils are far from skin colour
            assert np.abs(_patch(image, p[k], 0) - skin).sum() > 40, k
        for lids in ([37, 38, 40, 41], [43, 44, 46, 47]):  # between the lids: the iris, not white nor skin
            i, j = np.round(p[lids].mean(0)[::-1]).astype(int)
            iris = image[i - 1 : i + 2, j - 1 : j + 2].mean(-1)
            assert iris.mean() < 130 and iris.min() < skin.mean() - 20
        for eye in (slice(36, 42), slice(42, 48)):  # pupil and iris dark, eye white bright
            inside = grey[_inside(p[eye])]
            assert inside.min() < skin.mean() - 25 and inside.max() > 170
        ratio = skin[1] / skin[0]  # lips are redder than skin: lower green/red
        for lip in ((p[51] + p[62]) / 2, (p[55] + p[65]) / 2, (p[59] + p[67]) / 2):
            colour = _patch(image, lip, 0)
            assert colour[1] / colour[0] < 0.85 * ratio
        background = image[1, SIZE // 2].astype(np.float64)
        assert np.abs(_patch(image, (p[27] + p[30]) / 2) - background).sum() > 30  # the face is drawn
        # Jaw points are on the face outline: a little inside is skin, a little outside is not.
        centre = p[27:36].mean(0)
        edge = 0
        for k in range(17):
            out = (p[k] - centre) / np.hypot(*(p[k] - centre))
            inner, outer = _patch(image, p[k] - 2.5 * out, 0), _patch(image, p[k] + 2.5 * out, 0)
            edge += np.abs(inner - skin).sum() < np.abs(outer - skin).sum()
        assert edge >= 15


def test_talking_opens_the_mouth_over_a_dark_inside(clips):
    for frames in clips.values():
        gaps = [_gap(p, 62, 66) for _, p in frames]
        opened, closed = frames[int(np.argmax(gaps))], frames[int(np.argmin(gaps))]
        assert max(gaps) > 3 and min(gaps) < 0.1  # the inner lips part, then meet again
        assert _gap(opened[1], 51, 57) > _gap(closed[1], 51, 57) + 2
        chin = [_gap(p, 33, 8) / _gap(p, 36, 45) for p in (opened[1], closed[1])]
        assert chin[0] > 1.05 * chin[1]  # the jaw drops with the lower lip
        mouth = _inside(opened[1][60:68])
        assert mouth.sum() >= 6
        # The median, not the mean: upper teeth may show and are brighter than lips; the rest is dark.
        assert np.median(opened[0].mean(-1)[mouth]) < np.median(closed[0].mean(-1)[mouth]) - 15


def test_a_blink_closes_the_eyes_and_hides_the_whites(clips):
    for frames in clips.values():
        lids = [_gap(p, 37, 41) + _gap(p, 44, 46) for _, p in frames]
        opened, shut = frames[int(np.argmax(lids))], frames[int(np.argmin(lids))]
        assert min(lids) < 0.1 * max(lids)  # every 16-frame clip has a blink
        assert _gap(shut[1], 38, 40) < 0.5 and _gap(shut[1], 43, 47) < 0.5
        assert _eye_whites(*opened) >= 4 and _eye_whites(*shut) == 0
        half = [i for i, g in enumerate(lids) if 0.2 * max(lids) < g < 0.8 * max(lids)]
        assert half  # the lids close over more than one frame


def test_head_moves_and_turns(clips):
    asymmetry = []
    for frames in clips.values():
        points = np.stack([p for _, p in frames])
        eyes = points[:, 45] - points[:, 36]
        roll = np.degrees(np.arctan2(eyes[:, 1], eyes[:, 0]))
        assert np.ptp(roll) > 1 and np.abs(roll).max() < 25
        assert np.ptp(points.mean(1), 0).max() > 1  # the head shifts
        # Yaw: the nose tip moves towards one side of the face, which narrows.
        asymmetry += list(
            np.abs(points[:, 30, 0] - points[:, 0, 0]) / np.abs(points[:, 16, 0] - points[:, 30, 0])
        )
    assert min(asymmetry) < 0.8 and max(asymmetry) > 1.25


def test_one_identity_per_clip(clips):
    skins = {c: np.stack([_skin(image, p) for image, p in frames]) for c, frames in clips.items()}
    for colours in skins.values():
        assert np.abs(colours - colours.mean(0)).max() < 8
    means = [colours.mean(0) for colours in skins.values()]
    gaps = [np.abs(a - b).max() for i, a in enumerate(means) for b in means[i + 1 :]]
    assert np.median(gaps) > 25
    widths = [np.median([_gap(p, 36, 45) / _gap(p, 27, 8) for _, p in frames]) for frames in clips.values()]
    assert np.ptp(widths) > 0.05  # face proportions differ between people


def test_split_sizes():
    assert split_sizes(24) == {"train": 20, "test": 4}
    assert split_sizes(2) == {"train": 1, "test": 1}
    assert split_sizes(10) == {"train": 8, "test": 2}


def test_write_faces_layout_and_landmark_cache(tmp_path):
    counts = write_faces(tmp_path, n=3, seed=1, size=32, frames=3)
    assert counts == {"train": 2, "test": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test", "train"]
    names = {split: sorted(p.name for p in (tmp_path / split).iterdir()) for split in counts}
    assert names == {"train": [clip_name(0), clip_name(1)], "test": [clip_name(2)]}
    assert clip_name(3) == "id0003_clip00"
    for split, clip in (("train", 0), ("train", 1), ("test", 2)):
        folder = tmp_path / split / clip_name(clip)
        assert sorted(p.name for p in folder.iterdir()) == [
            "0000.png",
            "0001.png",
            "0002.png",
            "landmarks.json",
        ]
        doc = json.loads((folder / "landmarks.json").read_text())
        assert set(doc) == {"version", "source", "size", "frames"}
        assert doc["version"] == 1 and doc["source"] == "demo" and doc["size"] == [32, 32]
        assert list(doc["frames"]) == ["0000.png", "0001.png", "0002.png"]
        cache = read_landmark_frames(folder / "landmarks.json")
        for t, name in enumerate(doc["frames"]):
            points = doc["frames"][name]
            assert len(points) == 68 and all(
                len(xy) == 2 and all(isinstance(v, float) for v in xy) for xy in points
            )
            image, truth = face(1, clip, t, 32)
            np.testing.assert_allclose(cache[name], truth, atol=1e-3)
            with Image.open(folder / name) as png:
                assert png.mode == "RGB" and png.size == (32, 32)
                assert np.array_equal(np.asarray(png), image)


def test_write_faces_is_deterministic(tmp_path):
    for name in ("a", "b"):
        write_faces(tmp_path / name, n=2, seed=5, size=32, frames=2)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 2 * 3
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
