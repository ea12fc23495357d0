"""Real photographs that ship inside PyPI packages (scikit-image, scikit-learn), written as a
`photos` data set: the training and held-out data of the shipped super-resolution model.

The split is fixed by name so the model card's held-out PSNR is on photos the model never saw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

TRAIN = (
    "astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "china",
    "camera", "coins", "moon", "page", "text", "clock", "cell", "grass", "gravel", "brick",
)  # fmt: skip
TEST = ("coffee", "chelsea", "flower")


def load_photo(name: str) -> np.ndarray:
    """An (H,W,3) uint8 photo by name, from scikit-image's data or scikit-learn's sample images."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def write_package_photos(out: Path, n: int | None = None, seed: int = 0) -> dict[str, list[str]]:
    """Write out/train/*.png and out/test/*.png; n and seed exist for the demo-writer signature."""
    out = Path(out)
    split = {"train": list(TRAIN), "test": list(TEST)}
    for part, names in split.items():
        (out / part).mkdir(parents=True, exist_ok=True)
        for name in names[:n] if n else names:
            Image.fromarray(load_photo(name)).save(out / part / f"{name}.png")
    return split
