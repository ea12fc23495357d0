"""face2img landmarks: the 68-point readers (every malformed file is one InputError line), the
clip cache, flip symmetry, the coloured sketch, similarity fitting, retargeting (relative motion
must carry expression and head motion but never the driving person's face shape), NME, the dlib
backend on a real photo (skimage's astronaut, Eileen Collins) and backend selection."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data, transform

from i2i.errors import ConfigError, InputError
from i2i_face2img import detect
from i2i_face2img.landmarks import (
    COLOURS,
    FLIP,
    GROUPS,
    apply,
    flip,
    normalised_mean_error,
    read_landmark_frames,
    read_landmarks_json,
    render_sketch,
    retarget,
    similarity,
    write_landmark_frames,
)


def _ellipse(centre, rx, ry, angles):
    return [(centre[0] + rx * math.cos(a), centre[1] + ry * math.sin(a)) for a in angles]


def face(
    cx: float = 128, cy: float = 120, scale: float = 80, jaw: float = 1.0, mouth_open: float = 0.0
) -> np.ndarray:
    """A symmetric frontal face in the iBUG order (y down, the subject's right eye on the image's left).
    `jaw` widens the jaw only (another person's face shape); `mouth_open` drops the lower lip and chin."""
    pi = math.pi
    pts = [(jaw * math.cos(pi - i * pi / 16), -0.1 + math.sin(pi - i * pi / 16)) for i in range(17)]
    pts += [(-0.75 + 0.15 * i, -0.45 - 0.08 * math.sin(pi * i / 4)) for i in range(5)]
    pts += [(0.15 + 0.15 * i, -0.45 - 0.08 * math.sin(pi * i / 4)) for i in range(5)]
    pts += [(0.0, -0.3 + 0.15 * i) for i in range(4)]
    pts += [(-0.2 + 0.1 * i, 0.25 + 0.03 * math.sin(pi * i / 4)) for i in range(5)]
    eye_angles = [pi, 4 * pi / 3, 5 * pi / 3, 0, pi / 3, 2 * pi / 3]
    pts += _ellipse((-0.4, -0.25), 0.17, 0.07, eye_angles)
    pts += _ellipse((0.4, -0.25), 0.17, 0.07, eye_angles)
    pts += _ellipse((0, 0.55), 0.35, 0.12, [pi + k * pi / 6 for k in range(7)])
    pts += _ellipse((0, 0.55), 0.35, 0.12, [k * pi / 6 for k in range(1, 6)])
    pts += _ellipse((0, 0.55), 0.22, 0.02, [pi + k * pi / 4 for k in range(5)])
    pts += _ellipse((0, 0.55), 0.22, 0.02, [k * pi / 4 for k in range(1, 4)])
    points = np.array(pts)
    lower = [*range(4, 13), *range(55, 60), *range(65, 68)]
    points[lower, 1] += mouth_open
    return (points * scale + (cx, cy)).astype(np.float32)


def rigid(points: np.ndarray, angle_deg: float, scale: float, shift, about) -> np.ndarray:
    """points rotated and scaled about `about`, then shifted."""
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return ((points - about) @ rot.T + about + shift).astype(np.float32)


def _write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# --- readers -------------------------------------------------------------------------------------


def test_landmark_json_formats(tmp_path):
    points = face()
    pairs = points.tolist()
    triples = [[x, y, 0.9] for x, y in pairs]
    for name, content in [
        ("bare.json", pairs),
        ("xyz.json", triples),
        ("keyed.json", {"landmarks": pairs, "image": "a.png"}),
        ("fa.json", [triples, (points + 50).tolist()]),  # face-alignment: a list of faces, first taken
        ("ints.json", np.round(points).astype(int).tolist()),
    ]:
        got = read_landmarks_json(_write(tmp_path, name, content))
        assert got.dtype == np.float32 and got.shape == (68, 2), name
        assert np.allclose(got, points, atol=0.5), name


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("", "empty"),
        ("[]", "empty list"),
        (json.dumps([[1, 2]] * 67), "got 67"),
        (json.dumps([[1, 2]] * 69), "got 69"),
        (json.dumps([[1, "a"]] * 68), "landmark 0"),
        (json.dumps([[1, 2]] * 67 + [[1]]), "landmark 67"),
        (json.dumps([[1, 2, 3, 4]] * 68), "landmark 0"),
        (json.dumps([[True, 2]] * 68), "landmark 0"),
        (json.dumps([[1, 2]] * 60 + [[float("nan"), 2]] * 8), "NaN"),
        (json.dumps([[1, 2]] * 67 + [[float("inf"), 2]]), "Infinity is not a JSON number"),
        (json.dumps([[1, 2]] * 67 + [[1e39, 2]]), "beyond float32"),
        ('{"points": []}', "landmarks"),
        ('{"landmarks": null}', "list of 68"),
        ("42", "list of 68"),
        ("[[]]", "got 1"),
        ("[[[]]]", "got 1"),
    ],
)
def test_malformed_landmark_json_is_one_input_error(tmp_path, content, problem):
    path = _write(tmp_path, "bad_face.json", content)
    with pytest.raises(InputError) as info:
        read_landmarks_json(path)
    message = str(info.value)
    assert "bad_face.json" in message and problem in message and "\n" not in message


def test_unreadable_landmark_files(tmp_path):
    with pytest.raises(InputError, match="missing.json"):
        read_landmarks_json(tmp_path / "missing.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="binary.json"):
        read_landmarks_json(binary)


def test_landmark_frames_round_trip_atomically(tmp_path):
    frames = {"0001.png": face(cx=100.123456), "0000.png": face(), "0002.png": None}
    path = tmp_path / "clip" / "landmarks.json"
    write_landmark_frames(path, frames, size=(256, 240), source="clip.mp4")
    assert [p.name for p in path.parent.iterdir()] == ["landmarks.json"]  # no temp file left
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["size"] == [256, 240] and doc["source"] == "clip.mp4"
    assert list(doc["frames"]) == ["0000.png", "0001.png", "0002.png"]
    got = read_landmark_frames(path)
    assert got["0002.png"] is None
    assert np.allclose(got["0001.png"], frames["0001.png"], atol=1e-3)
    assert got["0000.png"].dtype == np.float32


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ([], "JSON object"),
        ({"version": 2, "size": [4, 4], "frames": {}}, "version 2"),
        ({"version": 1, "size": [4], "frames": {}}, "'size'"),
        ({"version": 1, "size": [4, 4], "frames": []}, "'frames'"),
        ({"version": 1, "size": [4, 4], "frames": {"0003.png": [[1, 2]] * 5}}, "frame 0003.png: expected 68"),
    ],
)
def test_malformed_landmark_frames(tmp_path, doc, problem):
    path = _write(tmp_path, "cache.json", doc)
    with pytest.raises(InputError) as info:
        read_landmark_frames(path)
    assert "cache.json" in str(info.value) and problem in str(info.value)


# --- flip and sketch -----------------------------------------------------------------------------


def test_flip_swaps_sides():
    assert sorted(FLIP) == list(range(68)) and all(FLIP[FLIP[i]] == i for i in range(68))
    rng = np.random.default_rng(0)
    points = face() + rng.normal(0, 3, (68, 2)).astype(np.float32)
    width = 256
    assert np.allclose(flip(flip(points, width), width), points)
    flipped = flip(points, width)
    # the new right eye is the mirrored old left eye, corner for corner
    assert np.allclose(flipped[36:42, 0], width - 1 - points[[45, 44, 43, 42, 47, 46], 0])
    assert np.allclose(flipped[36:42, 1], points[[45, 44, 43, 42, 47, 46], 1])
    # a symmetric face centred in the image is its own mirror image: the permutation matches the geometry
    symmetric = face(cx=(width - 1) / 2)
    assert np.allclose(flip(symmetric, width), symmetric, atol=1e-4)


def test_sketch_colours_lines_by_group():
    points = face(scale=90)
    sketch = render_sketch(points, (256, 240))
    assert sketch.dtype == np.float32 and sketch.shape == (3, 240, 256)
    assert sketch.min() >= 0 and sketch.max() <= 1
    assert len(set(COLOURS.values())) == len(GROUPS)
    for group, idx in GROUPS.items():
        i = idx[len(idx) // 2 - 1]
        x, y = np.round((points[i] + points[i + 1]) / 2).astype(int)  # on the line between two points
        pixel = sketch[:, y, x]
        colour = np.array(COLOURS[group], np.float32) / 255
        cosine = pixel @ colour / (np.linalg.norm(pixel) * np.linalg.norm(colour) + 1e-9)
        assert pixel.max() > 0.4 and cosine > 0.97, (group, pixel)
    lips = sketch[:, int(points[57, 1]), round(float(points[57, 0]))]  # bottom of the outer lips
    assert lips[0] > 0.4 and lips[1] < 0.05 and lips[2] < 0.05
    assert sketch[:, 5, 5].max() == 0  # background stays black
    assert ((sketch > 0.05) & (sketch < 0.95)).any()  # anti-aliased edges


def test_sketch_thickness_scales_with_size():
    small = render_sketch(face(scale=60), (160, 160)).sum()
    large = render_sketch(face(cx=256, cy=240, scale=120) * 1, (320, 320)).sum()
    assert 3.0 < large / small < 5.0  # twice the length and twice the width: ~4x the ink


def test_sketch_rejects_bad_points():
    with pytest.raises(ValueError):
        render_sketch(np.zeros((5, 2)), (64, 64))
    with pytest.raises(ValueError):
        render_sketch(np.full((68, 2), np.nan), (64, 64))


# --- geometry ------------------------------------------------------------------------------------


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (20, 2))
    a, s, t = math.radians(25), 1.7, np.array([10.0, -3.0])
    truth = np.array([[s * math.cos(a), -s * math.sin(a), t[0]], [s * math.sin(a), s * math.cos(a), t[1]]])
    dst = apply(truth, src)
    assert np.allclose(similarity(src, dst), truth, atol=1e-9)
    noisy = similarity(src, dst + rng.normal(0, 0.1, dst.shape))
    assert np.allclose(noisy, truth, atol=0.05)
    mirrored = similarity(src, src * [-1, 1])  # no reflection: a proper rotation comes back
    assert np.linalg.det(mirrored[:, :2]) > 0


def test_retarget_reference_frame_gives_the_portrait():
    driving = face(jaw=1.3, scale=100)
    portrait = rigid(face(scale=70), 12, 1.0, (20, 10), (128, 120))
    assert np.allclose(retarget(driving, portrait), portrait, atol=1e-4)
    sequence = np.stack([driving, face(jaw=1.3, scale=100, mouth_open=0.1)])
    assert np.allclose(retarget(sequence, portrait)[0], portrait, atol=1e-4)
    assert np.allclose(retarget(sequence[1], portrait, reference=driving), retarget(sequence, portrait)[1])


def test_retarget_rigid_driving_motion_moves_the_portrait_rigidly():
    reference = face(jaw=1.3)  # another person: wider jaw
    portrait = face(cx=150, cy=100, jaw=0.85)  # same size, so the motion carries over 1:1
    centre_d = reference[[36, 39, 42, 45, *range(27, 36)]].mean(axis=0)
    centre_p = portrait[[36, 39, 42, 45, *range(27, 36)]].mean(axis=0)
    motions = [(15, 1.0, (0, 0)), (0, 1.2, (0, 0)), (0, 1.0, (12, -7)), (-10, 0.9, (5, 8))]
    driving = np.stack([reference] + [rigid(reference, a, s, t, centre_d) for a, s, t in motions])
    out = retarget(driving, portrait)
    for (a, s, t), frame in zip(motions, out[1:]):
        assert np.allclose(frame, rigid(portrait, a, s, t, centre_p), atol=1e-3), (a, s, t)
    # a portrait face half the driving face's size moves half as far, turns and scales as much
    small = face(cx=150, cy=100, jaw=0.85, scale=40)
    centre_s = small[[36, 39, 42, 45, *range(27, 36)]].mean(axis=0)
    out = retarget(driving, small)
    for (a, s, t), frame in zip(motions, out[1:]):
        assert np.allclose(frame, rigid(small, a, s, np.multiply(t, 0.5), centre_s), atol=1e-3), (a, s, t)


def test_retarget_keeps_the_portraits_face_shape():
    def jaw_ratio(points):  # jaw width over eye-corner width: a face-shape measure
        return np.ptp(points[0:17, 0]) / (points[45, 0] - points[36, 0])

    reference = face(jaw=1.3, scale=110)
    portrait = face(cx=140, cy=130, jaw=0.85, scale=60)
    driving = np.stack([reference, rigid(reference, 0, 1.05, (4, 3), (128, 120)), reference])
    out = retarget(driving, portrait)
    for frame in out:
        assert jaw_ratio(frame) == pytest.approx(jaw_ratio(portrait), rel=1e-4)
        assert jaw_ratio(frame) != pytest.approx(jaw_ratio(reference), rel=0.1)
    # the naive alternative, drawing the driving landmarks aligned onto the portrait, would leak the jaw
    naive = apply(similarity(reference, portrait), reference)
    assert jaw_ratio(naive) == pytest.approx(jaw_ratio(reference))


def test_retarget_opens_the_mouth_proportionally():
    def opening(points):
        return np.linalg.norm(points[66] - points[62])

    reference = face(scale=100)
    talking = face(scale=100, mouth_open=0.2)  # 20 px more
    portrait = rigid(face(scale=50), 20, 1.0, (0, 0), (128, 120))  # half the size, head tilted 20 degrees
    out = retarget(np.stack([reference, talking]), portrait)
    assert opening(out[1]) - opening(portrait) == pytest.approx(10.0, abs=1e-3)
    # along the portrait's own vertical axis, and nothing rigid moved
    drop = out[1, 66] - portrait[66]
    assert math.degrees(math.atan2(-drop[0], drop[1])) == pytest.approx(20, abs=0.1)
    rigid_idx = [36, 39, 42, 45, *range(27, 36)]
    assert np.allclose(out[1, rigid_idx], portrait[rigid_idx], atol=1e-4)


def test_normalised_mean_error():
    truth = face()
    assert normalised_mean_error(truth, truth) == 0.0
    ocular = np.linalg.norm(truth[36] - truth[45])
    assert normalised_mean_error(truth + np.array([0.1 * ocular, 0]), truth) == pytest.approx(0.1)
    batch = np.stack([truth, truth])
    assert normalised_mean_error(batch + np.array([0, 0.05 * ocular]), batch) == pytest.approx(0.05)


# --- dlib on a real photo ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlib_landmarks():
    return detect.DlibLandmarks()


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


def test_dlib_finds_the_astronauts_face(dlib_landmarks, astronaut):
    points = dlib_landmarks(astronaut)
    assert points.shape == (68, 2) and points.dtype == np.float32
    eyes, nose, mouth = points[36:48, 1].mean(), points[30, 1], points[48:68, 1].mean()
    assert eyes < nose < mouth
    assert points[36:42, 0].mean() < points[42:48, 0].mean()  # the subject's right eye on the image's left
    assert (points.min(axis=0) > [150, 60]).all() and (points.max(axis=0) < [300, 200]).all()
    # on the mirrored photo, dlib's points match ours flipped
    mirrored = dlib_landmarks(astronaut[:, ::-1])
    assert normalised_mean_error(mirrored, flip(points, astronaut.shape[1])) < 0.08


def test_dlib_descriptor_tells_people_apart(dlib_landmarks, astronaut):
    same = dlib_landmarks.descriptor(astronaut)
    assert same.shape == (128,)
    points = dlib_landmarks(astronaut)
    assert detect.face_distance(same, dlib_landmarks.descriptor(astronaut, points)) < 1e-5
    mirrored = dlib_landmarks.descriptor(astronaut[:, ::-1])
    smaller = (transform.rescale(astronaut, 0.8, channel_axis=2) * 255).astype(np.uint8)
    assert detect.face_distance(same, mirrored) < detect.SAME_PERSON
    assert detect.face_distance(same, dlib_landmarks.descriptor(smaller)) < detect.SAME_PERSON
    # the same landmarks on a photo without her, and on a line drawing of a face: not her
    coffee = np.ascontiguousarray(data.coffee()[:, :512])
    assert detect.face_distance(same, dlib_landmarks.descriptor(coffee, points)) > detect.SAME_PERSON
    drawing = (render_sketch(points, (512, 512)).transpose(1, 2, 0) * 255).astype(np.uint8)
    assert detect.face_distance(same, dlib_landmarks.descriptor(drawing, points)) > detect.SAME_PERSON


def test_dlib_blank_image_has_no_face(dlib_landmarks):
    blank = np.full((200, 200, 3), 127, np.uint8)
    assert dlib_landmarks(blank) is None
    assert dlib_landmarks.descriptor(blank) is None


def test_dlib_models_dir():
    models = detect.dlib_models_dir()
    assert models is not None and (models / "shape_predictor_68_face_landmarks.dat").is_file()


# --- backend selection ---------------------------------------------------------------------------


@pytest.fixture
def fake_face_alignment(tmp_path, monkeypatch):
    """A face_alignment package whose source names its weights (as 1.5 does), and an empty torch
    hub cache: the state of a machine that installed the extra but never went online."""
    package = tmp_path / "site" / "face_alignment"
    (package / "detection" / "sfd").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('fake: not importable')\n")
    (package / "api.py").write_text(
        "models_urls = {'2DFAN-4': 'https://example.org/python-fan/2DFAN4-11f355bf06.pth.tar'}\n"
    )
    (package / "detection" / "sfd" / "sfd_detector.py").write_text(
        "models_urls = {'s3fd': 'https://example.org/python-fan/s3fd-619a316812.pth'}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_auto_without_face_alignment_weights_uses_dlib_with_one_notice(fake_face_alignment):
    notices: list[str] = []
    backend = detect.landmark_backend("auto", notice=notices.append)
    assert isinstance(backend, detect.DlibLandmarks) and backend.name == "dlib"
    assert len(notices) == 1 and "\n" not in notices[0]
    assert notices[0].startswith("face-alignment weights not cached") and notices[0].endswith("; using dlib")
    with pytest.raises(detect.WeightsMissing, match="2DFAN4-11f355bf06"):
        detect.landmark_backend("face-alignment")


def test_face_alignment_weights_found_in_the_hub_cache(fake_face_alignment):
    fake_face_alignment.mkdir(parents=True)
    (fake_face_alignment / "2DFAN4-11f355bf06.pth.tar").write_bytes(b"")
    assert "s3fd-619a316812.pth" in detect.face_alignment_unavailable()
    (fake_face_alignment / "s3fd-619a316812.pth").write_bytes(b"")
    assert detect.face_alignment_unavailable() is None
    # cached but the package cannot be imported: auto still ends up on dlib, saying why
    notices: list[str] = []
    assert isinstance(detect.landmark_backend("auto", notice=notices.append), detect.DlibLandmarks)
    assert len(notices) == 1 and "cannot be imported" in notices[0]


def test_no_detector_at_all_is_a_config_error(fake_face_alignment, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(detect, "dlib_models_dir", lambda: None)
        for name in ("auto", "dlib"):
            with pytest.raises(ConfigError) as info:
                detect.landmark_backend(name, notice=lambda _: None)
            assert str(info.value) == detect.DLIB_MISSING
    monkeypatch.setitem(sys.modules, "dlib", None)  # the import itself fails
    for name in ("auto", "dlib"):
        with pytest.raises(ConfigError, match="dlib extra"):
            detect.landmark_backend(name, notice=lambda _: None)
    with pytest.raises(ConfigError, match="dlib extra"):
        detect.DlibLandmarks()


def test_unknown_backend_name():
    with pytest.raises(ConfigError, match="unknown landmark backend"):
        detect.landmark_backend("opencv")
