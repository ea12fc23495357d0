"""img2img from a notebook: x4 super-resolution of a photo, then the same model on a video.

Run from the repository root (the example photo is docs/examples/chelsea-small.png).
"""

import numpy as np
from PIL import Image

import i2i

pipe = i2i.load_pipeline("img2img")  # the plugin's default shipped model: sr-x4
photo = Image.open("docs/examples/chelsea-small.png")

big = pipe(photo, seed=0)[0]  # a PIL image; a path or a numpy array works too
print(photo.size, "->", big.size)  # (112, 75) -> (448, 300)

# the same call on a numpy array gives the same pixels
assert np.array_equal(np.asarray(pipe(np.asarray(photo), seed=0)[0]), np.asarray(big))

# another shipped model of the plugin: i2i.load_pipeline("img2img", model="colorize")
# a video input gives an iterator of PIL frames: for frame in pipe("clip.mp4"): ...
