"""face2img from a notebook: a portrait driven by another frame's landmarks. The faces come from
the plugin's demo generator; with your own, pass photos (paths, PIL images or arrays) or a video
path as `driving` (then an iterator of frames comes back)."""

import i2i
from i2i_face2img.demo import face  # a synthetic face and its 68 landmarks

pipe = i2i.load_pipeline("face2img")

portrait, _ = face(0, 47, 0, 64)  # clip 47, frame 0
driving, _ = face(0, 47, 9, 64)  # frame 9 of the same clip: another head pose and expression

animated = pipe(portrait=portrait, driving=driving, seed=0)[0]
print(animated.size)  # (64, 64)
