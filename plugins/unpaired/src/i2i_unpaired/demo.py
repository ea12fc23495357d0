"""`i2i data demo unpaired`: procedural day (A) and night (B) town scenes, with no pairs.

Every image is its own random scene (hills, houses with windows, trees, clouds, sun or moon):
day images and night images are drawn from different random streams, so no night image is the
translation of any day image, as with real unpaired data. What turns a day scene into a night one
is still well defined, so the task has a known answer a model can learn: dark blue sky with stars
and a moon instead of the blue sky, sun and clouds; dark walls and hills; lit (yellow) windows.
Written in the original CycleGAN layout (trainA/, trainB/, testA/, testB/), so the real reader
reads it. Everything comes from `numpy.random.default_rng((seed, domain, split, index))`: the same
seed writes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from i2i.errors import I2IError

DEFAULT_TRAIN = 120  # images per domain in trainA/ and trainB/
SUPERSAMPLE = 4  # drawn this many times larger, then downscaled (anti-aliased edges)
WALLS = ((226, 208, 172), (184, 92, 66), (168, 168, 160), (232, 214, 130), (206, 160, 126), (240, 236, 226))
ROOFS = ((140, 60, 50), (90, 90, 100), (120, 80, 60))


@dataclass(frozen=True)
class House:
    left: float
    width: float
    height: float  # fractions of the image
    wall: tuple[int, int, int]
    roof: tuple[int, int, int]
    pitched: bool
    cols: int
    rows: int
    lit: tuple[bool, ...]  # per window, at night


@dataclass(frozen=True)
class Scene:
    horizon: float
    hills: tuple[tuple[float, float, float], ...]  # (amplitude, frequency, phase)
    houses: tuple[House, ...]
    trees: tuple[tuple[float, float], ...]  # (x, size)
    body: tuple[float, float]  # sun or moon centre
    clouds: tuple[tuple[float, float, float], ...]
    stars: tuple[tuple[float, float], ...]


def random_scene(rng: np.random.Generator) -> Scene:
    """A town scene: everything its day and night renderings share."""
    horizon = float(rng.uniform(0.55, 0.72))
    hills = tuple(
        (float(rng.uniform(0.03, 0.09)), float(rng.uniform(1.5, 5)), float(rng.uniform(0, 6.3)))
        for _ in range(2)
    )
    houses, x = [], float(rng.uniform(-0.05, 0.1))
    while x < 0.95:
        width = float(rng.uniform(0.14, 0.3))
        cols, rows = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        houses.append(
            House(
                left=x,
                width=width,
                height=float(rng.uniform(0.18, 0.42)),
                wall=WALLS[int(rng.integers(len(WALLS)))],
                roof=ROOFS[int(rng.integers(len(ROOFS)))],
                pitched=bool(rng.random() < 0.5),
                cols=cols,
                rows=rows,
                lit=tuple(bool(v) for v in rng.random(cols * rows) < 0.65),
            )
        )
        x += width + float(rng.uniform(0.0, 0.12))
    trees = tuple(
        (float(rng.uniform(0, 1)), float(rng.uniform(0.06, 0.12))) for _ in range(int(rng.integers(0, 3)))
    )
    body = (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.08, 0.3)))
    clouds = tuple(
        (float(rng.uniform(0, 1)), float(rng.uniform(0.05, 0.35)), float(rng.uniform(0.08, 0.18)))
        for _ in range(int(rng.integers(1, 4)))
    )
    stars = tuple(
        (float(rng.uniform(0, 1)), float(rng.uniform(0, 0.55))) for _ in range(int(rng.integers(15, 40)))
    )
    return Scene(horizon, hills, tuple(houses), trees, body, clouds, stars)


def _gradient(size: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    rows = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return Image.fromarray(np.broadcast_to(rows, (size, size, 3)).round().astype(np.uint8), "RGB")


def _dim(
    colour: tuple[int, int, int], factor: float, tint: tuple[int, int, int] = (10, 14, 40)
) -> tuple[int, int, int]:
    return tuple(int(c * factor + t) for c, t in zip(colour, tint))  # type: ignore[return-value]


def render(scene: Scene, night: bool, size: int) -> Image.Image:
    """The scene by day or by night, size x size RGB."""
    big = size * SUPERSAMPLE
    sky = ((6, 10, 36), (28, 38, 86)) if night else ((96, 160, 232), (200, 226, 250))
    img = _gradient(big, *sky)
    draw = ImageDraw.Draw(img)

    def px(v: float) -> int:
        return round(v * big)

    if night:
        for sx, sy in scene.stars:
            r = max(1, SUPERSAMPLE // 2)
            draw.ellipse((px(sx) - r, px(sy) - r, px(sx) + r, px(sy) + r), fill=(235, 235, 210))
        bx, by = scene.body
        draw.ellipse((px(bx - 0.05), px(by - 0.05), px(bx + 0.05), px(by + 0.05)), fill=(236, 232, 200))
    else:
        bx, by = scene.body
        draw.ellipse((px(bx - 0.07), px(by - 0.07), px(bx + 0.07), px(by + 0.07)), fill=(255, 232, 120))
        for cx, cy, w in scene.clouds:
            for dx in (-w / 2, 0.0, w / 2):
                draw.ellipse(
                    (px(cx + dx - w / 2), px(cy - w / 4), px(cx + dx + w / 2), px(cy + w / 4)),
                    fill=(250, 250, 252),
                )
    # hills behind the town
    xs = np.linspace(0.0, 1.0, 64)
    for k, (amp, freq, phase) in enumerate(scene.hills):
        ys = scene.horizon - amp * (1.5 - k * 0.5) * (1 + np.sin(xs * freq * np.pi + phase)) / 2
        colour = (18, 30, 34) if night else ((104, 160, 84) if k else (78, 136, 70))
        draw.polygon(
            [(px(0), px(1))] + [(px(x), px(y)) for x, y in zip(xs, ys)] + [(px(1), px(1))], fill=colour
        )
    ground = (14, 20, 24) if night else (92, 150, 72)
    draw.rectangle((0, px(scene.horizon), big, big), fill=ground)
    road = (30, 30, 40) if night else (130, 130, 128)
    draw.rectangle((0, px(scene.horizon + 0.12), big, px(scene.horizon + 0.2)), fill=road)
    for house in scene.houses:
        base = scene.horizon + 0.06
        top = base - house.height
        left, right = house.left, house.left + house.width
        wall = _dim(house.wall, 0.18) if night else house.wall
        roof = _dim(house.roof, 0.15) if night else house.roof
        draw.rectangle((px(left), px(top), px(right), px(base)), fill=wall)
        if house.pitched:
            draw.polygon(
                [
                    (px(left - 0.01), px(top)),
                    (px((left + right) / 2), px(top - 0.08)),
                    (px(right + 0.01), px(top)),
                ],
                fill=roof,
            )
        else:
            draw.rectangle((px(left - 0.01), px(top - 0.02), px(right + 0.01), px(top)), fill=roof)
        cw, rh = house.width / house.cols, (house.height - 0.06) / house.rows
        for i in range(house.rows):
            for j in range(house.cols):
                wx, wy = left + j * cw + cw * 0.25, top + 0.02 + i * rh + rh * 0.2
                lit = house.lit[i * house.cols + j]
                colour = ((255, 214, 110) if lit else (24, 26, 40)) if night else (70, 96, 124)
                draw.rectangle((px(wx), px(wy), px(wx + cw * 0.5), px(wy + rh * 0.55)), fill=colour)
    for tx, ts in scene.trees:
        base = scene.horizon + 0.1
        trunk = (20, 16, 12) if night else (96, 64, 40)
        crown = (12, 26, 18) if night else (46, 112, 50)
        draw.rectangle((px(tx - 0.01), px(base - ts), px(tx + 0.01), px(base)), fill=trunk)
        draw.ellipse((px(tx - ts / 2), px(base - ts * 1.8), px(tx + ts / 2), px(base - ts * 0.8)), fill=crown)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def write_demo(out: Path, n: int | None = None, seed: int = 0, size: int = 64) -> None:
    """Write trainA/ (day) and trainB/ (night), `n` images each (default 120), and testA/, testB/
    (a quarter of that, at least 8) as PNG files of size x size."""
    n = DEFAULT_TRAIN if n is None else int(n)
    if n < 1:
        raise I2IError(f"--n must be at least 1, not {n}")
    counts = {"train": n, "test": max(8, n // 4)}
    out = Path(out)
    for split_id, (split, count) in enumerate(counts.items()):
        for domain_id, (suffix, night) in enumerate((("A", False), ("B", True))):
            folder = out / f"{split}{suffix}"
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                rng = np.random.default_rng((seed, domain_id, split_id, index))
                render(random_scene(rng), night, size).save(folder / f"{index:05d}.png", optimize=False)
