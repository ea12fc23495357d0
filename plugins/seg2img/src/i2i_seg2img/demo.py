"""`i2i data demo seg2img`: procedural street scenes in the seg2img layout (docs/data-formats.md).

Each scene is a label map (sky, buildings with windows and doors, sidewalk, road, trees, grass,
cars, people) and a rendered photo of it. Every class has its own look (sky gradient, brick
noise, reflective windows, asphalt with lane marks, foliage, car paint with dark glass and wheels,
clothes), but the look also depends on per-scene style the map does not fix: wall and car colours,
exposure, the sun's side. So one map has many plausible photos, which is what seg2img's style
code and `--num-samples` are for. Everything comes from `numpy.random.default_rng((seed, index))`:
the same seed writes the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from i2i.errors import I2IError

CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("sky", (70, 130, 180)),
    ("building", (70, 70, 70)),
    ("window", (0, 60, 100)),
    ("door", (190, 153, 153)),
    ("road", (128, 64, 128)),
    ("sidewalk", (244, 35, 232)),
    ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)),
    ("car", (0, 0, 142)),
    ("person", (220, 20, 60)),
)  # fmt: skip
SKY, BUILDING, WINDOW, DOOR, ROAD, SIDEWALK, VEGETATION, TERRAIN, CAR, PERSON = range(len(CLASSES))
IGNORE_INDEX = 255
WALLS = np.array(
    [(150, 90, 70), (200, 180, 150), (120, 120, 125), (210, 200, 180), (170, 120, 90), (95, 85, 80)],
    np.float32,
)
PAINT = np.array(
    [(180, 20, 20), (20, 40, 140), (230, 230, 230), (30, 30, 30), (200, 170, 30), (90, 100, 110)], np.float32
)
CLOTHES = np.array(
    [(40, 40, 90), (150, 30, 30), (30, 110, 60), (220, 200, 160), (60, 60, 60), (200, 120, 40)], np.float32
)


def _noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Smooth value noise in [-1, 1]: a coarse random grid upsampled bilinearly."""
    cells = max(2, size // scale + 2)
    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    img = Image.fromarray(grid, "F").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img)


def _rect(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    h, w = mask.shape
    out = np.zeros(mask.shape, bool)
    out[max(0, int(y0)) : min(h, int(y1)), max(0, int(x0)) : min(w, int(x1))] = True
    return out


def _ellipse(shape: tuple[int, int], cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((xx - cx) / max(rx, 0.5)) ** 2 + ((yy - cy) / max(ry, 0.5)) ** 2 <= 1


def scene(seed: int, index: int, size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels uint8 (S,S), photo uint8 (S,S,3), instances uint16 (S,S)) of one street scene."""
    rng = np.random.default_rng((seed, index))
    s = size
    labels = np.full((s, s), SKY, np.uint8)
    instances = np.zeros((s, s), np.uint16)
    photo = np.zeros((s, s, 3), np.float32)
    yy, xx = np.mgrid[:s, :s].astype(np.float32)

    # sky: vertical gradient, soft clouds
    top, bottom = rng.uniform([60, 110, 170], [120, 170, 230]), rng.uniform([170, 200, 225], [220, 230, 245])
    t = (yy / s)[..., None]
    photo[:] = top * (1 - t) + bottom * t
    photo += np.clip(_noise(rng, s, s // 3), 0, 1)[..., None] * rng.uniform(40, 90)

    horizon = int(s * rng.uniform(0.55, 0.65))
    curb = horizon + int(s * rng.uniform(0.08, 0.12))

    # buildings along the horizon
    x = -int(rng.integers(0, s // 6))
    while x < s:
        w = int(s * rng.uniform(0.2, 0.45))
        roof = int(s * rng.uniform(0.08, 0.4))
        body = _rect(labels, x, roof, x + w, horizon)
        labels[body] = BUILDING
        wall = WALLS[rng.integers(len(WALLS))] * rng.uniform(0.85, 1.15)
        brick = ((yy.astype(int) // max(2, s // 40)) % 2 == 0) * 0.06
        tex = 1 + 0.08 * _noise(rng, s, max(2, s // 32)) - brick
        photo[body] = (wall * tex[..., None])[body]
        # windows on a grid, sometimes a door
        cols = int(rng.integers(2, 5))
        rows = max(1, int((horizon - roof) / (s * 0.12)))
        ww, wh = w / cols * 0.5, (horizon - roof) / rows * 0.45
        glass = rng.uniform([60, 90, 120], [120, 150, 190])
        for r in range(rows - 1 if rows > 1 else rows):
            for c in range(cols):
                wx = x + (c + 0.25) * w / cols
                wy = roof + (r + 0.3) * (horizon - roof) / rows
                win = _rect(labels, wx, wy, wx + ww, wy + wh) & body
                labels[win] = WINDOW
                shine = np.clip((yy - wy) / max(wh, 1), 0, 1)[..., None]
                photo[win] = (glass * (1.2 - 0.5 * shine) + 25 * (xx[..., None] > wx + ww * 0.6))[win]
        if rng.random() < 0.7:
            dx = x + w * rng.uniform(0.3, 0.6)
            door = _rect(labels, dx, horizon - s * 0.1, dx + s * 0.05, horizon) & body
            labels[door] = DOOR
            photo[door] = rng.uniform([60, 35, 20], [120, 80, 50])
        x += w + int(rng.integers(0, s // 10))

    # trees in front of the buildings
    for _ in range(int(rng.integers(0, 3))):
        cx, cy, r = rng.uniform(0, s), horizon - s * rng.uniform(0.1, 0.2), s * rng.uniform(0.07, 0.13)
        crown = _ellipse((s, s), cx, cy, r, r * 1.1) | _rect(labels, cx - s * 0.012, cy, cx + s * 0.012, curb)
        labels[crown] = VEGETATION
        leaf = 1 + 0.35 * _noise(rng, s, max(2, s // 40))
        photo[crown] = (np.array([50, 110, 40]) * rng.uniform(0.8, 1.2) * leaf[..., None])[crown]

    # sidewalk, with a grass verge sometimes; road with lane marks
    walk = (yy >= horizon) & (yy < curb)
    labels[walk] = SIDEWALK
    tiles = (((xx.astype(int) // max(2, s // 16)) + (yy.astype(int) // max(2, s // 32))) % 2) * 12
    photo[walk] = (np.array([185, 180, 170]) + tiles[..., None])[walk]
    if rng.random() < 0.6:
        gx = rng.uniform(0, s * 0.6)
        grass = (
            walk
            & (xx >= gx)
            & (xx < gx + s * rng.uniform(0.2, 0.4))
            & (yy >= horizon + (curb - horizon) * 0.5)
        )
        labels[grass] = TERRAIN
        photo[grass] = (np.array([110, 160, 70]) * (1 + 0.2 * _noise(rng, s, 3))[..., None])[grass]
    road = yy >= curb
    labels[road] = ROAD
    asphalt = rng.uniform(70, 100) * (1 + 0.12 * rng.standard_normal((s, s)))
    photo[road] = np.stack([asphalt] * 3, -1)[road]
    lane = (
        road
        & (np.abs(yy - (curb + (s - curb) * 0.55)) < max(1, s / 96))
        & ((xx.astype(int) // max(2, s // 8)) % 2 == 0)
    )
    photo[lane] = 230

    # cars on the road, people on the sidewalk (each its own instance)
    instance = 0
    for _ in range(int(rng.integers(0, 4))):
        instance += 1
        cw, ch = s * rng.uniform(0.22, 0.32), s * rng.uniform(0.1, 0.14)
        cx, base = rng.uniform(-cw / 3, s - cw / 2), rng.uniform(curb + ch * 0.6, s - 2)
        body = _rect(labels, cx, base - ch * 0.6, cx + cw, base) | _rect(
            labels, cx + cw * 0.2, base - ch, cx + cw * 0.8, base - ch * 0.5
        )
        labels[body] = CAR
        instances[body] = instance
        paint = PAINT[rng.integers(len(PAINT))] * rng.uniform(0.85, 1.1)
        photo[body] = (paint * (1.15 - 0.4 * ((yy - (base - ch)) / ch))[..., None])[body]
        glass = body & _rect(labels, cx + cw * 0.26, base - ch * 0.92, cx + cw * 0.74, base - ch * 0.6)
        photo[glass] = (40, 50, 60)
        for wx in (cx + cw * 0.22, cx + cw * 0.78):
            wheel = _ellipse((s, s), wx, base, ch * 0.22, ch * 0.22)
            labels[wheel] = CAR
            instances[wheel] = instance
            photo[wheel] = 20
    for _ in range(int(rng.integers(0, 4))):
        instance += 1
        ph = s * rng.uniform(0.14, 0.2)
        px, feet = rng.uniform(0, s), rng.uniform(horizon + 2, curb)
        head = _ellipse((s, s), px, feet - ph * 0.9, ph * 0.09, ph * 0.1)
        torso = _rect(labels, px - ph * 0.12, feet - ph * 0.8, px + ph * 0.12, feet - ph * 0.4)
        legs = _rect(labels, px - ph * 0.1, feet - ph * 0.4, px - ph * 0.02, feet) | _rect(
            labels, px + ph * 0.02, feet - ph * 0.4, px + ph * 0.1, feet
        )
        person = head | torso | legs
        labels[person] = PERSON
        instances[person] = instance
        photo[head] = rng.uniform([150, 100, 70], [235, 190, 160])
        photo[torso] = CLOTHES[rng.integers(len(CLOTHES))]
        photo[legs] = CLOTHES[rng.integers(len(CLOTHES))] * 0.7

    # lighting: exposure, sun from one side, sensor noise
    sun = 1 + rng.uniform(-0.15, 0.15) * (xx / s - 0.5)
    photo = photo * rng.uniform(0.85, 1.15) * sun[..., None] + rng.normal(0, 3, photo.shape)
    return labels, np.clip(photo, 0, 255).astype(np.uint8), instances


def write_scenes(out: Path, n: int | None = None, seed: int = 0, size: int = 128) -> dict[str, int]:
    """Write `n` (default 160) scenes to out/{train,test}/{labels,images,instances}/ + classes.json;
    the last n // 8 (at least one when n >= 2) are the test split."""
    out = Path(out)
    n = 160 if n is None else int(n)
    if n < 1:
        raise I2IError("--n must be at least 1")
    n_test = max(1, n // 8) if n >= 2 else 0
    counts = {"train": n - n_test, "test": n_test}
    for index in range(n):
        split = "train" if index < counts["train"] else "test"
        labels, photo, instances = scene(seed, index, size)
        for sub, image in (
            ("labels", Image.fromarray(labels, "L")),
            ("images", Image.fromarray(photo, "RGB")),
            ("instances", Image.fromarray(instances.astype(np.uint16))),
        ):
            folder = out / split / sub
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"{index:05d}.png")
    classes = [{"id": i, "name": name, "color": list(colour)} for i, (name, colour) in enumerate(CLASSES)]
    (out / "classes.json").write_text(
        json.dumps({"classes": classes, "ignore_index": IGNORE_INDEX}, indent=1) + "\n"
    )
    return counts
