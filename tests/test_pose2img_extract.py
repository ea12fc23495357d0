"""Keypoint extraction: BlazePose's 33 landmarks -> COCO-18 (by name, person's own left and right),
visibility and image bounds -> missing; and the real MediaPipe model where the extra is installed."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest

from i2i_pose2img.extract import BLAZEPOSE, from_blazepose
from i2i_pose2img.keypoints import FLIP, KEYPOINTS, MISSING


def _landmarks(visible: float = 1.0) -> list[SimpleNamespace]:
    return [SimpleNamespace(x=0.1 + 0.02 * i, y=0.05 + 0.025 * i, visibility=visible) for i in range(33)]


def test_every_coco_point_comes_from_the_blazepose_point_of_that_name():
    lms = _landmarks()
    points = from_blazepose(lms, 200, 100)
    side = {"r_": "right_", "l_": "left_"}
    for k, name in enumerate(KEYPOINTS):
        if name == "neck":
            shoulders = [BLAZEPOSE.index(f"{s}_shoulder") for s in ("left", "right")]
            expected = np.mean([[lms[i].x * 200, lms[i].y * 100] for i in shoulders], axis=0)
        else:
            full = side.get(name[:2], "") + (name[2:] if name[:2] in side else name)
            lm = lms[BLAZEPOSE.index(full)]
            expected = np.array([lm.x * 200, lm.y * 100])
        np.testing.assert_allclose(points[k], expected, rtol=1e-6, err_msg=name)
    # left and right stay the person's own: flipping COCO names pairs BlazePose left with right
    for k, name in enumerate(KEYPOINTS):
        assert KEYPOINTS[FLIP[k]] == name.replace("r_", "#").replace("l_", "r_").replace("#", "l_")


def test_hidden_or_outside_points_are_missing_and_the_neck_needs_both_shoulders():
    lms = _landmarks()
    lms[BLAZEPOSE.index("right_knee")].visibility = 0.2
    lms[BLAZEPOSE.index("left_ankle")].x = 1.3  # outside the image
    lms[BLAZEPOSE.index("left_shoulder")].visibility = 0.0
    points = from_blazepose(lms, 64, 64)
    for name in ("r_knee", "l_ankle", "l_shoulder", "neck"):
        assert (points[KEYPOINTS.index(name)] == MISSING).all(), name
    assert (points[KEYPOINTS.index("r_shoulder")] >= 0).all()
    assert (from_blazepose(_landmarks(visible=0.1), 64, 64) == MISSING).all()


@pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None, reason="the mediapipe extra is not installed"
)
def test_mediapipe_finds_the_astronauts_head_and_shoulders():  # pragma: no cover - optional extra
    import skimage.data

    from i2i_pose2img.extract import PoseExtractor

    image = skimage.data.astronaut()  # a real photo: head and shoulders of a person
    points = PoseExtractor()(image)
    assert points is not None
    nose, r_sh, l_sh = (points[KEYPOINTS.index(n)] for n in ("nose", "r_shoulder", "l_shoulder"))
    assert (nose >= 0).all() and nose[1] < min(r_sh[1], l_sh[1])  # the head above the shoulders
    assert r_sh[0] < l_sh[0]  # facing the camera, her right shoulder is on the image's left
