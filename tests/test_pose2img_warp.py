"""The warping prior moves source pixels to the target pose, part by part."""

from __future__ import annotations

import numpy as np
import torch

from i2i_pose2img.keypoints import KEYPOINTS
from i2i_pose2img.warp import PARTS, normalise, part_transforms, warp_parts


def _pose() -> torch.Tensor:
    points = np.array(
        [[32, 10], [32, 18], [26, 18], [22, 28], [20, 38], [38, 18], [42, 28], [44, 38], [28, 38],
         [27, 48], [27, 58], [36, 38], [37, 48], [37, 58], [30, 9], [34, 9], [28, 10], [36, 10]],
        np.float32,
    )  # fmt: skip
    return torch.from_numpy(points)


def test_a_shifted_pose_moves_the_pixels_with_it():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    source = _pose()
    target = source + torch.tensor([6.0, 0.0])  # everyone steps 6 px to the right
    out = warp_parts(image, normalise(source, 64, 64)[None], normalise(target, 64, 64)[None])
    assert out.shape == (1, 3 + len(PARTS), 64, 64)
    covered = out[0, 3:].max(0).values > 0.9
    assert covered.sum() > 200  # the body is covered
    shifted = torch.roll(image[0], shifts=6, dims=-1)
    error = (out[0, :3] - shifted).abs()[:, covered].mean()
    assert error < 0.05, error  # the warp is the shift (up to bilinear sampling at the edges)


def test_a_rotated_forearm_gets_a_rotation_and_missing_parts_are_left_out():
    source = _pose()
    target = source.clone()
    elbow, wrist = KEYPOINTS.index("r_elbow"), KEYPOINTS.index("r_wrist")
    target[wrist] = target[elbow] + torch.tensor([-10.0, 0.0])  # forearm now horizontal
    target[KEYPOINTS.index("l_knee")] = -1
    mats, ok = part_transforms(normalise(source, 64, 64), normalise(target, 64, 64))
    names = [n for n, _ in PARTS]
    assert not ok[names.index("l_thigh")] and not ok[names.index("l_shin")] and ok[names.index("torso")]
    m = mats[names.index("r_lower_arm")]
    assert abs(float(m[0, 1])) > 0.5  # a real rotation, not a translation
    assert torch.allclose(mats[names.index("torso")][:, :2], torch.eye(2), atol=1e-4)  # torso unmoved
