"""pose2img keypoints: every file format (with malformed files and missing points), float heatmaps
peaking at the keypoint, limb maps, and flip symmetry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from i2i.errors import InputError
from i2i_pose2img.keypoints import (
    FLIP,
    KEYPOINTS,
    LIMBS,
    flip,
    heatmaps,
    limb_maps,
    pose_maps,
    read_deepfashion_csv,
    read_pose_json,
)

RNG = np.random.default_rng(0)
POINTS = RNG.uniform(5, 60, (18, 2)).astype(np.float32)


def _k(name: str) -> int:
    return KEYPOINTS.index(name)


def test_openpose_coco18_and_body25_give_coco18(tmp_path):
    triples = [[*p, 0.9] for p in POINTS.tolist()]
    triples[_k("l_ear")][2] = 0.0  # not detected
    coco18 = tmp_path / "coco18.json"
    coco18.write_text(json.dumps({"people": [{"pose_keypoints_2d": [v for t in triples for v in t]}]}))
    got = read_pose_json(coco18)
    assert np.allclose(got[: _k("l_ear")], POINTS[: _k("l_ear")]) and (got[_k("l_ear")] == -1).all()
    # BODY_25: same points with MidHip at 8 and feet at 19-24
    body25 = triples[:8] + [[30, 40, 0.8]] + triples[8:] + [[1, 1, 0.5]] * 6
    (tmp_path / "b25.json").write_text(
        json.dumps({"people": [{"pose_keypoints_2d": [v for t in body25 for v in t]}]})
    )
    assert np.array_equal(read_pose_json(tmp_path / "b25.json"), got)
    # two people: the more complete one wins
    sparse = [0.0] * 54
    two = {"people": [{"pose_keypoints_2d": sparse}, {"pose_keypoints_2d": [v for t in triples for v in t]}]}
    (tmp_path / "two.json").write_text(json.dumps(two))
    assert np.array_equal(read_pose_json(tmp_path / "two.json"), got)


def test_coco_keypoints_derive_the_neck_and_map_left_and_right(tmp_path):
    kp = [0.0] * 51
    for i, (x, y) in enumerate([(30, 10), (32, 8), (28, 8), (0, 0), (26, 9)]):
        kp[3 * i : 3 * i + 3] = [x, y, 2 if (x, y) != (0, 0) else 0]
    kp[15:18] = [40, 20, 2]  # l_shoulder
    kp[18:21] = [20, 22, 2]  # r_shoulder
    path = tmp_path / "coco.json"
    path.write_text(json.dumps({"annotations": [{"num_keypoints": 7, "keypoints": kp}]}))
    got = read_pose_json(path)
    assert got[_k("neck")].tolist() == [30, 21]  # midpoint of the shoulders
    assert got[_k("l_shoulder")].tolist() == [40, 20] and got[_k("r_shoulder")].tolist() == [20, 22]
    assert got[_k("l_eye")].tolist() == [32, 8] and got[_k("r_ear")].tolist() == [26, 9]
    assert (got[_k("l_ear")] == -1).all() and (got[_k("l_ankle")] == -1).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"people": []}', "no person"),
        ('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}', "expected 75"),
        ('{"people": [{"pose_keypoints_2d": ' + json.dumps(["a"] * 54) + "}]}", "must be numbers"),
        ('{"keypoints": [1, 2]}', "51 numbers"),
        ('{"annotations": [{"num_keypoints": 0, "keypoints": []}]}', "no annotation with keypoints"),
    ],
)
def test_malformed_json_is_a_one_line_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "pose.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        read_pose_json(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_deepfashion_csv_with_missing_points_and_errors(tmp_path):
    ys, xs = [int(v) for v in POINTS[:, 1]], [int(v) for v in POINTS[:, 0]]
    ys[_k("r_ankle")] = -1
    path = tmp_path / "annotation.csv"
    path.write_text(f"name:keypoints_y:keypoints_x\na.jpg:{ys}:{xs}\n")
    got = read_deepfashion_csv(path)["a.jpg"]
    assert got[_k("nose")].tolist() == [xs[0], ys[0]] and (got[_k("r_ankle")] == -1).all()
    path.write_text(f"name:keypoints_y:keypoints_x\na.jpg:{ys[:5]}:{xs}\n")
    with pytest.raises(InputError, match="line 2: expected 18 coordinates"):
        read_deepfashion_csv(path)
    path.write_text("name:keypoints_y:keypoints_x\njust a name\n")
    with pytest.raises(InputError, match="line 2: expected name:keypoints_y:keypoints_x"):
        read_deepfashion_csv(path)


def test_heatmaps_are_float_peak_at_the_keypoint_and_scale_with_size():
    points = np.full((18, 2), -1, np.float32)
    points[_k("nose")] = (10, 20)
    maps = heatmaps(points, (64, 64), (64, 64))
    assert maps.dtype == torch.float32 and maps.shape == (18, 64, 64)
    peak = maps[_k("nose")]
    assert peak.max() == 1.0 and divmod(int(peak.argmax()), 64) == (20, 10)
    assert 0 < peak[20, 13] < 1 and len(peak.unique()) > 100  # smooth float tails, not uint8 steps
    assert maps[_k("neck")].abs().sum() == 0  # missing point: empty map
    big = heatmaps(points, (64, 64), (128, 128))
    assert divmod(int(big[_k("nose")].argmax()), 128) in {(40, 20), (41, 21), (40, 21), (41, 20)}


def test_limb_maps_follow_the_segment_and_skip_missing_ends():
    points = np.full((18, 2), -1, np.float32)
    points[_k("neck")], points[_k("r_shoulder")] = (10, 10), (30, 10)
    limbs = limb_maps(points, (64, 64), (64, 64))
    k = LIMBS.index((1, 2))
    assert limbs.shape == (len(LIMBS), 64, 64)
    assert limbs[k, 10, 20] == pytest.approx(1.0) and limbs[k, 30, 20] < 1e-3
    assert limbs[LIMBS.index((1, 5))].abs().sum() == 0
    assert pose_maps(POINTS, (64, 64), (32, 32)).shape == (18 + len(LIMBS), 32, 32)


def test_flip_swaps_left_and_right_and_matches_flipped_maps():
    assert KEYPOINTS[FLIP[_k("r_wrist")]] == "l_wrist" and KEYPOINTS[FLIP[_k("nose")]] == "nose"
    points = POINTS.copy()
    points[_k("l_ear")] = -1
    flipped = flip(points, 64)
    assert np.allclose(flip(flipped, 64), points)  # an involution
    assert (flipped[_k("r_ear")] == -1).all()  # the missing left ear is now the missing right ear
    # rendering the flipped keypoints = flipping the rendered maps and swapping the channels
    direct = heatmaps(flipped, (64, 64), (64, 64))
    mirrored = heatmaps(points, (64, 64), (64, 64)).flip(-1)[list(FLIP)]
    assert torch.allclose(direct, mirrored, atol=1e-5)
