"""unpaired from a notebook: a day scene to night, and back (the shipped CycleGAN model)."""

from PIL import Image

import i2i

pipe = i2i.load_pipeline("unpaired")
photo = Image.open("docs/examples/chelsea-small.png")  # any photo; the model knows demo street scenes

night = pipe(photo, direction="AtoB", seed=0)[0]
day_again = pipe(night, direction="BtoA", seed=0)[0]
print(night.size, day_again.size)  # same size as the photo
