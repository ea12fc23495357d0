"""seg2img from a notebook: a label map drawn with numpy -> four photos of it, one per style."""

import numpy as np

import i2i

pipe = i2i.load_pipeline("seg2img")  # the shipped street-scene model (10 classes)

labels = np.zeros((64, 64), np.uint8)  # class ids: 0 sky, 1 building, 4 road, 6 vegetation ...
labels[20:44, 8:56] = 1  # a building
labels[36:44, 0:8] = 6  # a bush
labels[44:] = 4  # the road

photos = pipe(labels=labels, num_samples=4, seed=0)  # four PIL images, each a different style
print([p.size for p in photos])  # [(64, 64), (64, 64), (64, 64), (64, 64)]
