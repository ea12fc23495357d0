"""`i2i data demo seg2img`: procedural street scenes in the seg2img layout (docs/data-formats.md).

Each scene is a label map (sky, buildings with windows and doors, sidewalk, road, trees, grass,
cars, people), an instance map (one id per car or person, for SPADE's edge channel) and a
rendered photo. Every class has its own look, so a segmenter can tell them apart and a generator
has something to learn: a blue sky with clouds, brick or plaster walls, windows that reflect the
sky, wooden doors, tiled sidewalks, grainy asphalt with lane marks, leafy trees, grass, glossy cars
with dark glass and wheels, people in clothes. The look also depends on per-scene style the map
does not fix (wall, car and clothes colours, exposure, the sun's side, sensor noise), so one map
has many plausible photos, which is what seg2img's style code and `--num-samples` are for.
Everything is vectorised numpy drawn from `numpy.random.default_rng((seed, index))`: the same
seed writes the same bytes.
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
IGNORE_INDEX = 255  # no demo pixel is "don't care"; written to classes.json for the reader


def _rgb(*colours: tuple[int, int, int]) -> np.ndarray:
    return np.array(colours, np.float32)


WALLS = _rgb((160, 85, 60), (205, 185, 150), (125, 125, 130), (220, 210, 190), (180, 125, 90), (110, 95, 85),
             (200, 170, 110), (150, 160, 150))  # fmt: skip
DOORS = _rgb((95, 60, 35), (60, 40, 30), (40, 70, 50), (110, 35, 35), (50, 55, 65))
PAINT = _rgb((185, 25, 25), (25, 50, 150), (225, 225, 225), (30, 30, 32), (210, 175, 30), (100, 110, 120),
             (20, 100, 70), (200, 90, 30))  # fmt: skip
CLOTHES = _rgb((40, 45, 95), (160, 35, 35), (35, 110, 60), (225, 205, 165), (55, 55, 60), (205, 125, 40),
               (120, 60, 130), (235, 235, 230))  # fmt: skip
SKIN = _rgb((240, 200, 170), (210, 160, 120), (160, 110, 75), (100, 65, 45))
HAIR = _rgb((30, 25, 20), (90, 60, 35), (180, 150, 90), (120, 120, 120))

Box = tuple[slice, slice]


class _Canvas:
    """One scene being drawn: class ids, instance ids, float photo, pixel-centre coordinates and
    the scene's shared noise fields. `paint` keeps the three maps consistent."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.size = size
        self.labels = np.full((size, size), SKY, np.uint8)
        self.instances = np.zeros((size, size), np.uint16)
        self.photo = np.zeros((size, size, 3), np.float32)
        self.yy, self.xx = np.mgrid[:size, :size].astype(np.float32) + 0.5
        self.smooth = _noise(rng, size, max(2, size // 10))  # blotches, a few per building
        self.leaves = _noise(rng, size, 2)  # leaf-sized clumps
        self.grain = rng.standard_normal((size, size)).astype(np.float32)  # per-pixel grit

    def box(self, x0: float, y0: float, x1: float, y1: float) -> Box:
        """The pixels whose centres lie in [x0, x1) x [y0, y1), clipped to the image."""
        s = self.size
        return slice(_pixel(y0, s), _pixel(y1, s)), slice(_pixel(x0, s), _pixel(x1, s))

    def paint(
        self, box: Box, mask: np.ndarray | bool, cls: int, colour: np.ndarray, instance: int = 0
    ) -> None:
        """Set class, instance and photo colour ((3,) or per-pixel (h, w, 3)) where `mask`."""
        labels = self.labels[box]
        where = np.broadcast_to(mask, labels.shape)
        labels[where] = cls
        self.instances[box][where] = instance
        photo = self.photo[box]
        photo[where] = np.broadcast_to(colour, photo.shape)[where]


def _pixel(edge: float, size: int) -> int:
    """The first pixel whose centre (i + 0.5) is at or past `edge`, within 0..size."""
    return min(max(int(np.ceil(edge - 0.5)), 0), size)


def _noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Smooth value noise, roughly in [-1, 1], with features `scale` pixels across."""
    cells = size // scale + 2
    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    big = Image.fromarray(grid, "F").resize((cells * scale, cells * scale), Image.Resampling.BICUBIC)
    return np.asarray(big)[scale // 2 : scale // 2 + size, scale // 2 : scale // 2 + size] * 1.4


def _sky(c: _Canvas, rng: np.random.Generator, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Blue at the top fading to haze at the horizon, with soft clouds; returns (top, low) colours."""
    top = rng.uniform([35, 90, 160], [95, 145, 215]).astype(np.float32)
    low = rng.uniform([165, 195, 220], [215, 228, 245]).astype(np.float32)
    t = np.clip(c.yy / horizon, 0, 1)[..., None] ** 0.7
    c.photo[:] = top * (1 - t) + low * t
    rows = slice(0, horizon)
    yy, xx = c.yy[rows], c.xx[rows]
    cover = np.zeros(yy.shape, np.float32)
    for _ in range(int(rng.integers(0, 5))):
        cx, cy, width = (
            rng.uniform(-0.1, 1.1) * c.size,
            rng.uniform(0.04, 0.35) * c.size,
            rng.uniform(0.08, 0.2),
        )
        for dx, dy, r in rng.uniform([-1, -0.25, 0.35], [1, 0.15, 0.7], (4, 3)) * width * c.size:
            cover += np.exp(-2 * (((xx - cx - dx) / r) ** 2 + ((yy - cy - dy) / (0.45 * r)) ** 2))
    alpha = np.clip(cover * rng.uniform(0.6, 1.0) * (1 + 0.25 * c.smooth[rows]), 0, 1)[..., None]
    cloud = np.float32(248) - 40 * (1 - np.clip(cover, 0, 1))[..., None]  # grey where thin
    c.photo[rows] = c.photo[rows] * (1 - alpha) + cloud * alpha
    return top, low


def _wall(c: _Canvas, rng: np.random.Generator, box: Box) -> np.ndarray:
    """(h, w, 3) wall colour: bricks with lighter mortar, or blotchy plaster."""
    yy, xx = c.yy[box], c.xx[box]
    wall = WALLS[rng.integers(len(WALLS))] * rng.uniform(0.92, 1.08, 3) * rng.uniform(0.85, 1.1)
    if rng.random() < 0.5:
        course = max(3, round(c.size / 32))
        row = (yy // course).astype(np.int64)
        shifted = xx + (row % 2) * course
        tint = rng.uniform(0.86, 1.08, (c.size // course + 2, c.size // (2 * course) + 3))
        mortar = (yy % course < 1) | (shifted % (2 * course) < 1)
        texture = tint[row, (shifted // (2 * course)).astype(np.int64)] * np.where(mortar, 1.2, 1.0)
    else:
        texture = 1 + 0.06 * c.smooth[box] + 0.02 * c.grain[box]
    return wall * texture[..., None]


def _glass(c: _Canvas, v: np.ndarray, u: np.ndarray, sky: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Window glass at in-window coordinates (u across, v down, both 0..1): the sky reflected,
    bright at the top and darker below, with a diagonal glint."""
    top, low = sky
    reflect = low * (0.75 - 0.45 * v[..., None]) + top * 0.3
    glint = (np.abs((u + 0.6 * v) % 1 - 0.35) < 0.08)[..., None] * np.float32(35)
    return reflect * 0.75 + glint


def _building(
    c: _Canvas, rng: np.random.Generator, x0: float, x1: float, horizon: int, sky: tuple[np.ndarray, ...]
) -> None:
    """A facade from x0 to x1 standing on the horizon: wall, parapet, window grid, ground floor."""
    s = c.size
    roof = max(s * 0.03, horizon - s * rng.uniform(0.22, 0.52))
    box = c.box(x0, roof, x1, horizon)
    if c.labels[box].size == 0:
        return
    colour = _wall(c, rng, box)
    yy, xx = c.yy[box], c.xx[box]
    colour[yy < roof + max(1, s / 64)] *= 0.55  # parapet shadow line
    c.paint(box, True, BUILDING, colour)
    ground = s * rng.uniform(0.09, 0.12)
    floor_h, pitch = s * rng.uniform(0.085, 0.12), s * rng.uniform(0.075, 0.11)
    floors = int((horizon - ground - roof - s * 0.03) // floor_h)
    cols = max(1, int((x1 - x0 - 0.3 * pitch) // pitch))
    left, first = x0 + (x1 - x0 - cols * pitch) / 2, roof + s * 0.03
    wide, tall = rng.uniform(0.4, 0.65), rng.uniform(0.45, 0.7)
    if floors > 0:
        fx, fy = (xx - left) / pitch, (yy - first) / floor_h
        inside = (fx >= 0) & (fx < cols) & (fy >= 0) & (fy < floors)
        u, v = (fx % 1 - (1 - wide) / 2) / wide, (fy % 1 - 0.2) / tall
        across = (u >= 0) & (u < 1)
        window = inside & across & (v >= 0) & (v < 1)
        sill = inside & (u >= -0.1) & (u < 1.1) & (v >= 1) & (v < 1 + max(1.0, s / 128) / (floor_h * tall))
        c.photo[box][sill] = np.minimum(c.photo[box][sill] * 1.3 + 20, 255)
        shade = rng.uniform(0.7, 1.15, (floors, cols))[
            np.clip(fy, 0, floors - 1).astype(np.int64), np.clip(fx, 0, cols - 1).astype(np.int64)
        ]
        c.paint(box, window, WINDOW, _glass(c, v, u, sky) * shade[..., None])
    if rng.random() < 0.5:  # shop window on the ground floor
        sx = rng.uniform(x0, max(x0, x1 - s * 0.15))
        shop = c.box(sx, horizon - ground * 0.8, sx + s * rng.uniform(0.1, 0.2), horizon - ground * 0.15)
        u = (c.xx[shop] - sx) / (s * 0.15)
        c.paint(
            shop, True, WINDOW, _glass(c, (c.yy[shop] - horizon + ground * 0.8) / (ground * 0.65), u, sky)
        )
    if rng.random() < 0.75:
        width = s * rng.uniform(0.05, 0.075)
        dx = rng.uniform(x0 + 0.1 * (x1 - x0), x1 - 0.1 * (x1 - x0) - width)
        door = c.box(dx, horizon - ground * rng.uniform(0.75, 0.9), dx + width, horizon)
        u = (c.xx[door] - dx) / width
        panels = 1 - 0.25 * (np.abs(u - 0.5) < 0.08) - 0.2 * ((u < 0.12) | (u > 0.88))
        wood = (
            DOORS[rng.integers(len(DOORS))] * rng.uniform(0.85, 1.2) * (1 + 0.05 * c.grain[door])[..., None]
        )
        c.paint(door, True, DOOR, wood * panels[..., None])


def _buildings(c: _Canvas, rng: np.random.Generator, horizon: int, sky: tuple[np.ndarray, ...]) -> None:
    """1-4 facades of varied width side by side, sometimes with sky showing between them."""
    s, k = c.size, int(rng.integers(1, 5))
    gaps = np.where(rng.random(k) < 0.35, rng.uniform(0.02, 0.08, k), 0.0) * s
    gaps[-1] = 0
    widths = rng.uniform(0.6, 1.4, k)
    widths *= max(s * rng.uniform(0.95, 1.2) - gaps.sum(), 0.3 * s) / widths.sum()
    x = rng.uniform(-0.15, 0.02) * s
    for width, gap in zip(widths, gaps):
        _building(c, rng, x, x + width, horizon, sky)
        x += width + gap


def _ground(c: _Canvas, rng: np.random.Generator, horizon: int, curb: int) -> None:
    """Tiled sidewalk with a lighter curb stone, sometimes a lawn; asphalt with dashed lane marks."""
    s = c.size
    walk = c.box(0, horizon, s, curb)
    yy, xx = c.yy[walk] - horizon, c.xx[walk]
    tile_w, tile_h = max(3, round(s / 12)), max(2, round(s / 32))
    row = (yy // tile_h).astype(np.int64)
    shifted = xx + (row % 2) * (tile_w // 2)
    tint = rng.uniform(0.93, 1.05, (s // tile_h + 2, s // tile_w + 3))[
        row, (shifted // tile_w).astype(np.int64)
    ]
    joint = (yy % tile_h < 1) | (shifted % tile_w < 1)
    stone = rng.uniform(165, 205) * rng.uniform([0.97, 0.96, 0.92], [1.03, 1.0, 0.98])
    texture = tint * np.where(joint, 0.82, 1.0) * (1 + 0.03 * c.grain[walk])
    texture[yy >= curb - horizon - max(1, s / 64)] = 1.12
    c.paint(walk, True, SIDEWALK, stone * texture[..., None])
    if rng.random() < 0.6:
        gx, depth = rng.uniform(-0.1, 0.6) * s, (curb - horizon) * rng.uniform(0.35, 0.6)
        y0 = horizon if rng.random() < 0.6 else curb - max(1, s / 64) - depth  # front lawn or verge
        lawn = c.box(gx, y0, gx + s * rng.uniform(0.25, 0.6), y0 + depth)
        h, w = c.labels[lawn].shape
        blades = np.repeat(rng.standard_normal(((h + 2) // 3, w)), 3, axis=0)[:h]
        grass = (
            rng.uniform([105, 150, 55], [150, 185, 85])
            * (1 + 0.1 * blades + 0.08 * c.smooth[lawn])[..., None]
        )
        c.paint(lawn, True, TERRAIN, grass)
    road = c.box(0, curb, s, s)
    yy, xx = c.yy[road], c.xx[road]
    asphalt = rng.uniform(55, 95) * np.array([0.97, 1.0, 1.04], np.float32)
    texture = 1 + 0.1 * c.grain[road] + 0.07 * c.smooth[road]
    texture[yy < curb + max(1, s / 64)] *= 0.7  # gutter
    colour = asphalt * texture[..., None]
    lane_y, thick = curb + (s - curb) * rng.uniform(0.4, 0.55), max(1.0, s / 80)
    dash = s * rng.uniform(0.08, 0.12)
    period = dash / rng.uniform(0.45, 0.6)
    mark = (np.abs(yy - lane_y) < thick / 2 + 0.01) & ((xx + rng.uniform(0, period)) % period < dash)
    colour[mark] = (225, 225, 220) if rng.random() < 0.75 else (220, 185, 60)
    c.paint(road, True, ROAD, colour)


def _tree(c: _Canvas, rng: np.random.Generator, horizon: int, curb: int) -> None:
    """A trunk standing on the sidewalk under a crown of overlapping, top-lit leafy blobs."""
    s = c.size
    base, tx = horizon + (curb - horizon) * rng.uniform(0.15, 0.5), rng.uniform(0, s)
    height, r, tw = s * rng.uniform(0.08, 0.15), s * rng.uniform(0.06, 0.11), max(1.0, s * 0.02)
    trunk = c.box(tx - tw / 2, base - height, tx + tw / 2, base)
    bark = np.array([85, 62, 45], np.float32) * (1 + 0.1 * c.grain[trunk])[..., None]
    c.paint(trunk, True, VEGETATION, bark)
    cy = base - height - 0.5 * r
    crown = c.box(tx - 1.6 * r, cy - 1.5 * r, tx + 1.6 * r, cy + 1.3 * r)
    yy, xx = c.yy[crown], c.xx[crown]
    light = np.zeros(yy.shape, np.float32)
    for dx, dy, k in rng.uniform([-0.7, -0.6, 0.5], [0.7, 0.4, 0.85], (5, 3)):
        px, py, pr = tx + dx * r, cy + dy * r, k * r
        inside = ((xx - px) ** 2 + (yy - py) ** 2) / pr**2
        dome = 1 - ((xx - px + 0.35 * pr) ** 2 + (yy - py + 0.45 * pr) ** 2) / (1.4 * pr) ** 2
        light = np.where(inside <= 1, np.maximum(light, 0.25 + np.clip(dome, 0, 1)), light)
    leaf = (
        rng.uniform([35, 75, 20], [75, 120, 45])
        * (0.6 + 0.6 * light * (1 + 0.3 * c.leaves[crown]))[..., None]
    )
    c.paint(crown, light > 0, VEGETATION, leaf)


def _person(c: _Canvas, rng: np.random.Generator, px: float, feet: float, h: float, instance: int) -> None:
    """Head with hair, shirt and arms, trousers and shoes: one instance of class person."""
    skin, hair = SKIN[rng.integers(len(SKIN))], HAIR[rng.integers(len(HAIR))]
    shirt = CLOTHES[rng.integers(len(CLOTHES))] * rng.uniform(0.85, 1.15)
    trousers = CLOTHES[rng.integers(len(CLOTHES))] * 0.75
    parts = (
        (-0.12, 0.12, 0.8, 0.42, shirt),
        (-0.18, -0.11, 0.78, 0.46, shirt * 0.85),
        (0.11, 0.18, 0.78, 0.46, shirt * 0.85),
        (-0.11, -0.02, 0.43, 0.05, trousers),
        (0.02, 0.11, 0.43, 0.05, trousers),
        (-0.12, -0.02, 0.05, 0.0, np.array([30, 28, 28], np.float32)),
        (0.02, 0.12, 0.05, 0.0, np.array([30, 28, 28], np.float32)),
    )
    for left, right, top, bottom, colour in parts:
        box = c.box(px + left * h, feet - top * h, px + right * h, feet - bottom * h)
        c.paint(box, True, PERSON, colour * (1 + 0.04 * c.grain[box])[..., None], instance)
    hy, rx, ry = feet - 0.9 * h, max(0.08 * h, 0.6), max(0.1 * h, 0.6)
    head = c.box(px - rx, hy - ry, px + rx, hy + ry)
    yy, xx = c.yy[head], c.xx[head]
    face = np.where((yy < hy - 0.3 * ry)[..., None], hair, skin)
    c.paint(head, ((xx - px) / rx) ** 2 + ((yy - hy) / ry) ** 2 <= 1, PERSON, face, instance)


def _car(c: _Canvas, rng: np.random.Generator, x0: float, base: float, length: float, instance: int) -> None:
    """Side view of a car with its shadow: rounded body, cabin with dark glass, wheels with hubs,
    head and tail lights; every part is class car and this instance."""
    height = length * rng.uniform(0.36, 0.44)
    r = height * 0.23
    bottom, top = base - 0.7 * r, base - 0.7 * r - 0.45 * height
    roof = top - 0.42 * height
    shadow = c.box(x0 - 0.05 * length, base - 0.3 * r, x0 + 1.05 * length, base + max(1.0, 0.1 * height))
    under = c.labels[shadow] == ROAD
    c.photo[shadow][under] *= 0.55
    box = c.box(x0, roof, x0 + length, base)
    yy, xx = c.yy[box], c.xx[box]
    forward = rng.random() < 0.5  # nose to the right
    a = (xx - x0) / length if forward else 1 - (xx - x0) / length  # 0 at the tail, 1 at the nose
    body = ((a - 0.5) / 0.5) ** 4 + ((yy - (top + bottom) / 2) / ((bottom - top) / 2)) ** 4 <= 1
    t = (top - yy) / (top - roof)  # 0 at the waist line, 1 at the roof
    cabin = (t >= 0) & (t <= 1) & (a >= 0.2 + 0.1 * t) & (a < 0.78 - 0.16 * t)
    glass = (
        (t >= 0.12) & (t <= 0.85) & (a >= 0.24 + 0.1 * t) & (a < 0.74 - 0.16 * t) & (np.abs(a - 0.5) > 0.02)
    )
    paint = PAINT[rng.integers(len(PAINT))] * rng.uniform(0.85, 1.1)
    colour = paint * (1.2 - 0.45 * np.clip((yy - roof) / (bottom - roof), 0, 1))[..., None]
    tint = np.array([0.8, 0.9, 1.0], np.float32)
    reflection = 70 - 40 * t + 30 * (np.abs(a - 0.35 - 0.2 * t) < 0.04)
    colour[glass] = reflection[glass, None] * tint
    lights = body & (yy < top + 0.2 * height) & (yy >= top + 0.05 * height)
    colour[lights & (a > 0.95)] = (250, 245, 200)
    colour[lights & (a < 0.04)] = (200, 30, 25)
    mask = body | cabin
    for wx in (x0 + 0.2 * length, x0 + 0.8 * length):
        d = (xx - wx) ** 2 + (yy - (base - r)) ** 2
        wheel = d <= r**2
        colour[wheel] = np.where((d[wheel] <= (0.45 * r) ** 2)[:, None], np.float32(150), np.float32(22))
        mask |= wheel
    c.paint(box, mask, CAR, colour, instance)


def _light(c: _Canvas, rng: np.random.Generator) -> np.ndarray:
    """Exposure, the sun from one side (weaker on the sky), colour temperature and sensor noise."""
    s = c.size
    sun = 1 + rng.uniform(-0.3, 0.3) * (c.xx / s - 0.5)
    sun = np.where(c.labels == SKY, 1 + 0.3 * (sun - 1), sun)
    warm = rng.uniform(-0.05, 0.08)
    tint = np.array([1 + warm, 1, 1 - warm], np.float32) * rng.uniform(0.82, 1.18)
    photo = c.photo * sun[..., None] * tint + rng.normal(0, rng.uniform(1.5, 4.5), c.photo.shape)
    return np.clip(photo, 0, 255).astype(np.uint8)


def scene(seed: int, index: int, size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scene `index` of demo set `seed`: (labels uint8 (size, size) class ids, photo uint8
    (size, size, 3), instances uint16 (size, size): 0 = none, k = the k-th car or person)."""
    rng = np.random.default_rng((seed, index))
    c = _Canvas(rng, size)
    horizon = int(size * rng.uniform(0.52, 0.62))
    curb = horizon + max(2, int(size * rng.uniform(0.09, 0.13)))
    sky = _sky(c, rng, horizon)
    _buildings(c, rng, horizon, sky)
    _ground(c, rng, horizon, curb)
    for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.7 else 0):
        _tree(c, rng, horizon, curb)
    n_people, n_cars = rng.integers(0, 4, 2)
    people = rng.uniform(horizon + 0.3 * (curb - horizon), curb - 0.5, n_people)
    for instance, feet in enumerate(np.sort(people), 1):  # far ones first, near ones on top
        _person(c, rng, rng.uniform(0, size), feet, size * rng.uniform(0.11, 0.15), instance)
    cars = curb + (size - curb) * rng.uniform(0.35, 1.0, n_cars)
    for instance, base in enumerate(np.sort(cars), int(n_people) + 1):
        length = size * rng.uniform(0.22, 0.3) * (0.75 + 0.35 * (base - curb) / (size - curb))
        _car(c, rng, rng.uniform(-0.4 * length, size - 0.6 * length), base, length, instance)
    return c.labels, _light(c, rng), c.instances


def split_sizes(n: int) -> dict[str, int]:
    """train/test counts: the last n // 8 scenes (at least one when n >= 2) are the test split."""
    if n < 1:
        raise I2IError("--n must be at least 1")
    test = max(1, n // 8) if n >= 2 else 0
    return {"train": n - test, "test": test}


def write_scenes(out: Path, n: int | None = None, seed: int = 0, size: int = 128) -> dict[str, int]:
    """Write `n` (default 160) scenes as out/{train,test}/{labels,images,instances}/NNNNN.png (class
    ids "L", photo RGB, instance ids "I;16") and out/classes.json; returns {"train": .., "test": ..}."""
    out = Path(out)
    counts = split_sizes(160 if n is None else int(n))
    index = 0
    for split, count in counts.items():
        folders = {sub: out / split / sub for sub in ("labels", "images", "instances")}
        for folder in folders.values() if count else ():
            folder.mkdir(parents=True, exist_ok=True)
        for _ in range(count):
            labels, photo, instances = scene(seed, index, size)
            Image.fromarray(labels).save(folders["labels"] / f"{index:05d}.png")
            Image.fromarray(photo).save(folders["images"] / f"{index:05d}.png")
            Image.fromarray(instances).save(folders["instances"] / f"{index:05d}.png")
            index += 1
    classes = [{"id": i, "name": name, "color": list(colour)} for i, (name, colour) in enumerate(CLASSES)]
    (out / "classes.json").write_text(
        json.dumps({"classes": classes, "ignore_index": IGNORE_INDEX}, indent=1) + "\n"
    )
    return counts
