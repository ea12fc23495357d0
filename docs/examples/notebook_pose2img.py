"""pose2img from a notebook: a person re-posed. The photo and keypoints come from the plugin's demo
generator here; with your own, pass a photo (path, PIL image or array) and OpenPose JSON (a path
or the parsed dict)."""

import i2i
from i2i_pose2img.demo import person  # a synthetic person and its 18 keypoints (x, y; -1 = unseen)

pipe = i2i.load_pipeline("pose2img")


def openpose(points):
    """Keypoints as OpenPose's JSON (pose_keypoints_2d: x, y, confidence per point)."""
    return {"people": [{"pose_keypoints_2d": [v for x, y in points.tolist() for v in (x, y, float(x >= 0))]}]}


photo, own_pose = person(0, 90, 0, 64)  # person 90 in pose 0
_, new_pose = person(0, 90, 3, 64)  # the same person's pose 3

reposed = pipe(source=photo, source_pose=openpose(own_pose), pose=openpose(new_pose), seed=0)[0]
print(reposed.size)  # (64, 64)
