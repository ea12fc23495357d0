"""text2img from a notebook: sentences -> bird images (the shipped demo-birds model)."""

import i2i

pipe = i2i.load_pipeline("text2img")

birds = pipe(prompt=["red bird with short beak", "blue bird with long beak"], num_samples=2, seed=0)
print(len(birds))  # 4: two draws for each sentence, in order

typical = pipe(prompt="yellow bird with short beak", num_samples=4, seed=0, truncation=0.5)
# truncation: noise from a normal cut to [-0.5, 0.5], less varied and more typical birds
