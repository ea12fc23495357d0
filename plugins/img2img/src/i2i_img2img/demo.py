"""`i2i data demo img2img`: procedural facades in the original pix2pix aligned layout.

Each sample is a label map in class colours (A, left) beside a rendered "photo" of the same facade
(B, right), like the CMP facades set pix2pix made famous. The photo is a function of the labels
plus per-building style (wall colour, brick texture, lighting) that the labels do not fully fix, so
a model must learn the class -> appearance mapping and still cannot reach zero error. Everything is
drawn from `numpy.random.default_rng((seed, index))`: the same seed writes the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from i2i.errors import I2IError

CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("sky", (0, 0, 170)),
    ("wall", (0, 85, 255)),
    ("window", (0, 255, 255)),
    ("door", (255, 170, 0)),
    ("cornice", (255, 85, 0)),
    ("balcony", (170, 255, 85)),
    ("shop", (255, 0, 0)),
    ("roof", (85, 0, 170)),
)  # fmt: skip
SKY, WALL, WINDOW, DOOR, CORNICE, BALCONY, SHOP, ROOF = range(len(CLASSES))
WALL_COLOURS = np.array(
    [(222, 205, 170), (178, 86, 62), (160, 160, 155), (230, 210, 120), (200, 150, 120), (240, 235, 225)],
    dtype=np.float32,
)


def _layout(rng: np.random.Generator, size: int) -> np.ndarray:
    """An (size, size) class-index map of one facade."""
    lab = np.full((size, size), WALL, np.uint8)
    top = int(size * rng.uniform(0.04, 0.22))
    lab[:top] = SKY
    roof = max(2, size // 32)
    lab[top : top + roof] = ROOF
    ground = size - int(size * rng.uniform(0.18, 0.26))
    floors = int(rng.integers(2, 6))
    cols = int(rng.integers(3, 7))
    floor_h = (ground - top - roof) / floors
    col_w = size / cols
    win_w = col_w * rng.uniform(0.35, 0.6)
    win_h = floor_h * rng.uniform(0.45, 0.7)
    balcony_floor = rng.random(floors) < 0.35
    for f in range(floors):
        y0 = int(top + roof + f * floor_h + (floor_h - win_h) * 0.45)
        y1 = int(y0 + win_h)
        if f > 0 and rng.random() < 0.5:
            cy = int(top + roof + f * floor_h)
            lab[cy : cy + max(1, size // 64)] = CORNICE
        for c in range(cols):
            x0 = int(c * col_w + (col_w - win_w) / 2)
            x1 = int(x0 + win_w)
            lab[y0:y1, x0:x1] = WINDOW
            if balcony_floor[f]:
                b0 = y1 - max(2, int(win_h * 0.3))
                lab[b0 : y1 + 1, max(0, x0 - 2) : x1 + 2] = BALCONY
    lab[ground : ground + max(1, size // 64)] = CORNICE
    door_col = int(rng.integers(0, cols))
    for c in range(cols):
        x0 = int(c * col_w + col_w * 0.12)
        x1 = int((c + 1) * col_w - col_w * 0.12)
        y0 = ground + max(2, size // 32)
        if c == door_col:
            lab[y0:size, x0 + (x1 - x0) // 4 : x1 - (x1 - x0) // 4] = DOOR
        else:
            lab[y0 : size - max(2, size // 32), x0:x1] = SHOP
    return lab


def _render(lab: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The facade's photo: per-class appearance, brick texture, sun gradient and sensor noise."""
    size = lab.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), np.float32)

    def paint(cls: int, colour: np.ndarray) -> None:
        mask = lab == cls
        img[mask] = colour[mask] if colour.ndim == 3 else colour

    sky_top = np.array([90, 140, 215], np.float32) * rng.uniform(0.9, 1.1)
    paint(SKY, sky_top + (255 - sky_top) * yy[..., None] * 2.0)
    wall = WALL_COLOURS[rng.integers(len(WALL_COLOURS))] * rng.uniform(0.9, 1.1, 3)
    period = max(3, size // 40)
    bricks = (np.floor(yy * size / period) % 2 == 0) | (np.floor(xx * size / (2 * period)) % 3 == 0)
    texture = 1.0 - 0.08 * bricks.astype(np.float32) * rng.uniform(0.3, 1.0)
    paint(WALL, wall * texture[..., None])
    glass = np.array([40, 60, 80], np.float32) + 90 * (1 - yy[..., None]) * np.array([0.5, 0.7, 1.0])
    paint(WINDOW, glass)
    paint(DOOR, np.array([110, 70, 40], np.float32) * rng.uniform(0.8, 1.2))
    paint(CORNICE, np.minimum(wall * 1.15 + 20, 255))
    railing = 45 + 50 * (np.floor(xx * size / max(2, size // 64)) % 2)
    paint(BALCONY, np.repeat(railing[..., None], 3, axis=2))
    paint(SHOP, np.array([230, 200, 120], np.float32) * (0.6 + 0.4 * yy[..., None]))
    paint(ROOF, np.array([90, 60, 50], np.float32))
    sun = 0.8 + 0.35 * (xx if rng.random() < 0.5 else 1 - xx)
    img *= np.where(lab[..., None] == SKY, 1.0, sun[..., None])
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def facade(seed: int, index: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(label colours, photo), both (size, size, 3) uint8: sample `index` of demo set `seed`."""
    rng = np.random.default_rng((seed, index))
    lab = _layout(rng, size)
    palette = np.array([colour for _, colour in CLASSES], np.uint8)
    return palette[lab], _render(lab, rng)


def split_sizes(n: int) -> dict[str, int]:
    """train/val/test counts: test and val are at least 2 and 1 so evaluation always has data."""
    test = max(2, n // 8)
    val = max(1, n // 10)
    if n < test + val + 1:
        raise I2IError(f"a demo set needs at least {test + val + 1} images, not {n}")
    return {"train": n - test - val, "val": val, "test": test}


def write_demo(out: Path, n: int | None = None, seed: int = 0, size: int = 256) -> dict[str, int]:
    """Write `n` (default 64) facades as out/{train,val,test}/NNNN.png (A|B) and out/classes.json."""
    out = Path(out)
    counts = split_sizes(64 if n is None else n)
    index = 0
    for split, count in counts.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(count):
            labels, photo = facade(seed, index, size)
            Image.fromarray(np.concatenate([labels, photo], axis=1)).save(folder / f"{index:04d}.png")
            index += 1
    classes = [{"id": i, "name": name, "color": list(colour)} for i, (name, colour) in enumerate(CLASSES)]
    (out / "classes.json").write_text(
        json.dumps({"classes": classes, "layout": "aligned", "A": "labels", "B": "photo"}, indent=1) + "\n"
    )
    return counts
