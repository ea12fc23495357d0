"""Writes the model card's sample sheet: held-out demo scenes through a model, both directions.

Columns: held-out scenes 0..K-1 of the test split of `i2i data demo unpaired --seed 0`; rows:
day | day->night | day->night->day | night | night->day | night->day->night, enlarged 3x.
Usage (from the repo root): python plugins/unpaired/scripts/sample_sheet.py [CHECKPOINT] [OUT.png]
(default: the shipped model, docs/models/unpaired-day-night-samples.png).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from PIL import Image

from i2i.data.images import image_to_tensor
from i2i.pipeline import load_pipeline
from i2i_unpaired.demo import random_scene, render
from i2i_unpaired.nets import A_TO_B, B_TO_A, DIRECTION

COLUMNS, SCALE = 6, 3


def _translate(pipe, images: torch.Tensor, way: int) -> torch.Tensor:
    batch = {"input": images, DIRECTION: torch.full((images.shape[0],), way, dtype=torch.long)}
    return pipe.generate(batch, seed=0)


def main(checkpoint: str = "unpaired", out: str = "docs/models/unpaired-day-night-samples.png") -> None:
    pipe = load_pipeline(checkpoint, device="cpu")
    rows = []
    for domain, way, back in ((0, A_TO_B, B_TO_A), (1, B_TO_A, A_TO_B)):
        scenes = [
            render(random_scene(np.random.default_rng((0, domain, 1, i))), bool(domain), 64)
            for i in range(COLUMNS)
        ]
        real = torch.stack([image_to_tensor(s) for s in scenes])
        fake = _translate(pipe, real, way)
        rows += [real, fake, _translate(pipe, fake, back)]
    grid = torch.cat([torch.cat(list(row), dim=2) for row in rows], dim=1)  # (3, 6*64, COLUMNS*64)
    pixels = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    sheet = Image.fromarray(pixels)
    sheet.resize((sheet.width * SCALE, sheet.height * SCALE), Image.Resampling.NEAREST).save(
        out, optimize=True
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
