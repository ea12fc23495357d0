"""`i2i data demo pose2img`: procedural people in the DeepFashion pose-transfer layout.

Pose transfer learns "this person, that pose": the generator gets a photo of someone plus a target
pose (18 COCO / OpenPose keypoints) and must draw the same person in the new pose. So the demo set
needs what DeepFashion has and random images lack: the same identity (skin, hair, body shape,
clothes with a pattern, background) seen in several poses, with exact keypoints. Each person is a
2-D articulated figure (torso, head with hair and face, upper and lower arms and legs, hands and
shoes) whose joints are the keypoints, so the keypoints sit exactly on the drawn body. The
identity comes from `numpy.random.default_rng((seed, identity))`, the pose (standing, walking,
arms raised or out, waving, hands on hips, side step, a knee raised; the head turned, which can
hide an ear: -1) from `default_rng((seed, identity, pose_index))`: the same seed writes the same
bytes, and an identity looks the same in all its poses. Parts are drawn at 2-4x with PIL into a
part-id map, coloured and outlined with vectorised numpy and box-filtered down, which keeps edges
smooth at any size.

The files are the layout PATN and most pose-transfer code read (docs/data-formats.md):
train/ and test/ images, train.lst / test.lst, annotation-{split}.csv with
"name:keypoints_y:keypoints_x" rows ([y0, ..., y17] in KEYPOINTS order, -1 = missing) and
pairs-{split}.csv ("from,to": every ordered pair of two poses of one identity).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from i2i.errors import I2IError
from i2i_pose2img.keypoints import KEYPOINTS

(NOSE, NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST, R_HIP, R_KNEE, R_ANKLE,
 L_HIP, L_KNEE, L_ANKLE, R_EYE, L_EYE, R_EAR, L_EAR) = range(len(KEYPOINTS))  # fmt: skip
POSES = ("stand", "walk", "arms_up", "arms_out", "wave", "hips", "side_step", "knee_up")
POSES_PER_IDENTITY = 6
PATTERNS = ("plain", "stripes", "dots")


def _rgb(*colours: tuple[int, int, int]) -> np.ndarray:
    return np.array(colours, np.float32)


SKIN = _rgb((245, 210, 180), (225, 180, 140), (195, 145, 105), (150, 100, 65), (105, 70, 45))
HAIR = _rgb((25, 20, 18), (70, 45, 25), (120, 80, 40), (200, 165, 100), (150, 60, 30), (140, 140, 140))
CLOTHES = _rgb((200, 40, 45), (35, 70, 160), (40, 130, 70), (235, 190, 50), (120, 60, 150), (230, 120, 40),
               (30, 150, 160), (240, 240, 235), (45, 45, 50), (210, 110, 150), (130, 160, 60),
               (150, 110, 80))  # fmt: skip
BOTTOMS = _rgb((40, 50, 90), (30, 30, 35), (110, 100, 90), (70, 90, 140), (150, 130, 100), (90, 40, 40),
               (60, 80, 60), (180, 175, 165))  # fmt: skip

# Materials a part is made of; part ids in the drawing map index MATERIAL[...] via _Figure.parts.
BACKGROUND, SKIN_M, HAIR_M, TOP_M, BOTTOM_M, SHOES_M, EYE_M, MOUTH_M = range(8)


class _Look:
    """An identity: what stays the same in every pose (colours in float RGB, lengths in heights)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.skin = SKIN[rng.integers(len(SKIN))] * rng.uniform(0.95, 1.05)
        self.hair = HAIR[rng.integers(len(HAIR))] * rng.uniform(0.9, 1.1)
        self.long_hair = bool(rng.random() < 0.4)
        self.height = float(rng.uniform(0.8, 0.92))  # of the image, when the pose fits
        self.shoulders = float(rng.uniform(0.095, 0.125))  # half shoulder width
        self.hips = float(rng.uniform(0.05, 0.07))  # half hip width
        self.build = float(rng.uniform(0.85, 1.2))  # limb thickness
        top, pattern_colour, bottom = rng.choice(len(CLOTHES), 3, replace=False)
        self.top = CLOTHES[top] * rng.uniform(0.88, 1.08)
        self.pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
        self.pattern_colour = CLOTHES[pattern_colour]
        self.long_sleeves = bool(rng.random() < 0.5)
        self.skirt = bool(rng.random() < 0.3)
        self.bottom = (
            CLOTHES[bottom] * 0.9 if self.skirt else BOTTOMS[rng.integers(len(BOTTOMS))]
        ) * rng.uniform(0.9, 1.1)
        self.shoes = rng.uniform(20, 90) * rng.uniform(0.8, 1.2, 3)
        light = rng.uniform(205, 245) + rng.uniform(-12, 12, 3)
        self.background = (light, light * rng.uniform(0.8, 0.92) + rng.uniform(-8, 8, 3))


def _v(x: float, y: float) -> np.ndarray:
    return np.array([x, y])


def _direction(angle: float, side: int) -> np.ndarray:
    """Unit vector `angle` degrees from straight down, turned outward (side -1: to the image's left)."""
    a = np.radians(angle)
    return np.array([side * np.sin(a), np.cos(a)])


def _angles(rng: np.random.Generator) -> dict[str, float]:
    """Joint angles of one pose, in degrees from straight down, positive = away from the body:
    upper arm and elbow bend per arm, thigh and shin per leg, torso lean and head yaw/tilt."""
    kind = POSES[int(rng.integers(len(POSES)))]
    u = rng.uniform
    arm = {"stand": ((4, 16), (0, 25)), "walk": ((5, 25), (5, 45)), "arms_up": ((140, 172), (-15, 15)),
           "arms_out": ((75, 105), (-10, 35)), "wave": ((4, 20), (0, 20)), "hips": ((35, 50), (-112, -92)),
           "side_step": ((12, 40), (0, 25)), "knee_up": ((50, 80), (0, 30))}[kind]  # fmt: skip
    leg = {"side_step": ((14, 26), (-6, 4)), "walk": ((3, 9), (-2, 4))}.get(kind, ((2, 7), (-3, 3)))
    a = {}
    for side in "rl":
        a[f"{side}_arm"], a[f"{side}_elbow"] = u(*arm[0]), u(*arm[1])
        a[f"{side}_thigh"] = u(*leg[0])
        a[f"{side}_shin"] = a[f"{side}_thigh"] + u(*leg[1])
    first, other = ("r", "l") if rng.random() < 0.5 else ("l", "r")
    if kind == "wave":  # one arm up, forearm bent upward
        a[f"{first}_arm"], a[f"{first}_elbow"] = u(95, 145), u(25, 60)
    if kind == "knee_up":  # one knee raised to the side, arms out for balance
        a[f"{first}_thigh"], a[f"{first}_shin"] = u(55, 85), u(-15, 10)
        a["r_arm"], a["l_arm"] = u(50, 85), u(50, 85)
    if kind == "walk":  # one knee bent with the foot tucked under, the other arm swung
        a[f"{first}_thigh"], a[f"{first}_shin"] = u(8, 14), u(-12, -4)
        a[f"{other}_elbow"] = u(35, 70)
    a["lean"], a["yaw"], a["tilt"] = u(-5, 5), u(-0.55, 0.55), u(-8, 8)
    return a


def _skeleton(look: _Look, a: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Keypoints (18, 2) and extra drawing points in body units (height 1, y down, hips at 0)."""
    k = np.zeros((len(KEYPOINTS), 2))
    lean = np.radians(a["lean"])
    up = np.array([np.sin(lean), -np.cos(lean)])  # along the torso, hips to neck
    across = np.array([-up[1], up[0]])  # to the image's right
    k[R_HIP], k[L_HIP] = -look.hips * across, look.hips * across
    k[NECK] = 0.29 * up
    for side, shoulder, elbow, wrist, hip, knee, ankle in (
        (-1, R_SHOULDER, R_ELBOW, R_WRIST, R_HIP, R_KNEE, R_ANKLE),
        (1, L_SHOULDER, L_ELBOW, L_WRIST, L_HIP, L_KNEE, L_ANKLE),
    ):
        s = "r" if side < 0 else "l"
        k[shoulder] = k[NECK] + side * look.shoulders * across - 0.025 * up
        k[elbow] = k[shoulder] + 0.165 * _direction(a[f"{s}_arm"] + side * a["lean"], side)
        k[wrist] = k[elbow] + 0.145 * _direction(a[f"{s}_arm"] + a[f"{s}_elbow"] + side * a["lean"], side)
        k[knee] = k[hip] + 0.245 * _direction(a[f"{s}_thigh"], side)
        k[ankle] = k[knee] + 0.235 * _direction(a[f"{s}_shin"], side)
    tilt = np.radians(a["lean"] + a["tilt"])
    head_up = np.array([np.sin(tilt), -np.cos(tilt)])
    head, rx, ry, yaw = k[NECK] + 0.105 * head_up, 0.062, 0.075, a["yaw"]
    k[NOSE] = head + _v(yaw * 0.75 * rx, 0.18 * ry)
    k[R_EYE] = head + _v((-0.4 + 0.6 * yaw) * rx, -0.06 * ry)
    k[L_EYE] = head + _v((0.4 + 0.6 * yaw) * rx, -0.06 * ry)
    k[R_EAR] = head + _v((-0.97 + 0.25 * yaw) * rx, 0.02 * ry)
    k[L_EAR] = head + _v((0.97 + 0.25 * yaw) * rx, 0.02 * ry)
    extra = {
        "head": head,
        "radii": np.array([rx, ry]),
        "top": head - _v(0, ry + 0.01),
        "r_hand": k[R_WRIST] + 0.035 * (k[R_WRIST] - k[R_ELBOW]) / 0.145,
        "l_hand": k[L_WRIST] + 0.035 * (k[L_WRIST] - k[L_ELBOW]) / 0.145,
        "r_toe": k[R_ANKLE] + _v(-0.03, 0.04),
        "l_toe": k[L_ANKLE] + _v(0.03, 0.04),
    }
    return k, extra


def _fit(points: np.ndarray, look: _Look, rng: np.random.Generator, size: int) -> tuple[float, np.ndarray]:
    """Scale (pixels per body height) and offset that stand the figure roughly centred with its feet
    near the bottom, shrunk where raised or spread limbs would leave the image."""
    lo, hi = points.min(0) - 0.05, points.max(0) + 0.05  # limb thickness
    scale = min(look.height * size, 0.94 * size / (hi[1] - lo[1]), 0.94 * size / (hi[0] - lo[0]))
    bottom = size * rng.uniform(0.94, 0.97)
    top = bottom - (hi[1] - lo[1]) * scale
    bottom += max(0.0, 0.03 * size - top)
    half = (hi[0] - lo[0]) * scale / 2
    centre = np.clip(
        size / 2 + rng.uniform(-0.06, 0.06) * size, half + 0.03 * size, size - half - 0.03 * size
    )
    offset = np.array([centre - (lo[0] + hi[0]) / 2 * scale, bottom - hi[1] * scale])
    return scale, offset


class _Figure:
    """A part-id map drawn at `ss` times the output size; every part remembers its material."""

    def __init__(self, size: int, ss: int, scale: float, offset: np.ndarray) -> None:
        self.ss, self.scale, self.offset = ss, scale, offset
        self.ids = Image.new("L", (size * ss, size * ss), 0)
        self.draw = ImageDraw.Draw(self.ids)
        self.parts = [BACKGROUND]

    def px(self, p: np.ndarray) -> tuple[float, float]:
        """Body units -> drawing pixels (output pixel i has its centre at i, as in the keypoints)."""
        q = (np.asarray(p) * self.scale + self.offset + 0.5) * self.ss - 0.5
        return float(q[0]), float(q[1])

    def part(self, material: int) -> int:
        self.parts.append(material)
        return len(self.parts) - 1

    def disc(self, centre: np.ndarray, rx: float, ry: float, material: int, part: int | None = None) -> int:
        part = self.part(material) if part is None else part
        x, y = self.px(centre)
        rx, ry = rx * self.scale * self.ss, ry * self.scale * self.ss
        self.draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=part)
        return part

    def limb(self, p: np.ndarray, q: np.ndarray, r0: float, r1: float, material: int) -> int:
        """A tapered capsule from p (radius r0) to q (radius r1): one part."""
        d = np.asarray(q, float) - p
        n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
        part = self.part(material)
        self.polygon([p + r0 * n, q + r1 * n, q - r1 * n, p - r0 * n], part)
        self.disc(p, r0, r0, material, part)
        self.disc(q, r1, r1, material, part)
        return part

    def polygon(self, points: list[np.ndarray], part: int) -> None:
        self.draw.polygon([self.px(p) for p in points], fill=part)


def _draw(fig: _Figure, look: _Look, k: np.ndarray, extra: dict[str, np.ndarray], hidden: list[int]) -> None:
    """Paint the parts back to front: long hair, legs, shoes, neck, torso, arms, head."""
    head, (rx, ry), b = extra["head"], extra["radii"], look.build
    if look.long_hair:
        fig.disc(head + _v(0, 0.045), rx * 1.25, ry * 1.3, HAIR_M)
    mid_hip = (k[R_HIP] + k[L_HIP]) / 2
    neck_dir = (k[NECK] - mid_hip) / np.hypot(*(k[NECK] - mid_hip))
    legs = SKIN_M if look.skirt else BOTTOM_M
    for hip, knee, ankle in ((R_HIP, R_KNEE, R_ANKLE), (L_HIP, L_KNEE, L_ANKLE)):
        fig.limb(k[hip], k[knee], 0.048 * b, 0.036 * b, legs)
        fig.limb(k[knee], k[ankle], 0.036 * b, 0.026 * b, legs)
    outer = np.array([look.hips + 0.04 * b, 0])
    if look.skirt:
        hem = [k[knee] * 0.8 + k[hip] * 0.2 for hip, knee in ((R_HIP, R_KNEE), (L_HIP, L_KNEE))]
        part = fig.part(BOTTOM_M)
        fig.polygon([mid_hip - outer - 0.04 * neck_dir, mid_hip + outer - 0.04 * neck_dir,
                     hem[1] + _v(0.05, 0), hem[0] - _v(0.05, 0)], part)  # fmt: skip
    else:
        part = fig.part(BOTTOM_M)
        fig.polygon([mid_hip - outer - 0.04 * neck_dir, mid_hip + outer - 0.04 * neck_dir,
                     k[L_HIP] + 0.09 * (k[L_KNEE] - k[L_HIP]) / 0.245 + _v(0.035, 0), mid_hip + _v(0, 0.08),
                     k[R_HIP] + 0.09 * (k[R_KNEE] - k[R_HIP]) / 0.245 - _v(0.035, 0)], part)  # fmt: skip
    for side in "rl":
        fig.limb(k[R_ANKLE if side == "r" else L_ANKLE], extra[f"{side}_toe"], 0.028, 0.03, SHOES_M)
    fig.limb(k[NECK] - 0.02 * neck_dir, head, 0.026 * b, 0.026 * b, SKIN_M)
    torso = fig.part(TOP_M)
    across = np.array([-neck_dir[1], neck_dir[0]])  # to the image's right
    waist = mid_hip + 0.12 * neck_dir
    fig.polygon([
        k[R_SHOULDER] - 0.03 * b * across + 0.01 * neck_dir, k[R_SHOULDER] + 0.045 * across + 0.02 * neck_dir,
        k[NECK] - 0.025 * neck_dir,
        k[L_SHOULDER] - 0.045 * across + 0.02 * neck_dir, k[L_SHOULDER] + 0.03 * b * across + 0.01 * neck_dir,
        waist + (look.hips + 0.02 * b) * across, mid_hip + outer - 0.03 * neck_dir + _v(0.005, 0),
        mid_hip - outer - 0.03 * neck_dir + _v(-0.005, 0), waist - (look.hips + 0.02 * b) * across,
    ], torso)  # fmt: skip
    for shoulder in (R_SHOULDER, L_SHOULDER):
        fig.disc(k[shoulder], 0.034 * b, 0.034 * b, TOP_M, torso)
    for side, shoulder, elbow, wrist in (
        ("r", R_SHOULDER, R_ELBOW, R_WRIST),
        ("l", L_SHOULDER, L_ELBOW, L_WRIST),
    ):
        fig.limb(k[shoulder], k[elbow], 0.031 * b, 0.026 * b, TOP_M)
        fig.limb(k[elbow], k[wrist], 0.025 * b, 0.02 * b, TOP_M if look.long_sleeves else SKIN_M)
        fig.limb(k[wrist], extra[f"{side}_hand"], 0.02 * b, 0.022 * b, SKIN_M)
    fig.disc(head - _v(0, 0.012), rx * 1.08, ry * 1.06, HAIR_M)
    fig.disc(head + _v(0.35 * (k[NOSE][0] - head[0]), 0.014), rx * 0.92, ry * 0.9, SKIN_M)
    for ear in (R_EAR, L_EAR):
        if ear not in hidden:
            fig.disc(k[ear], 0.014, 0.02, SKIN_M)
    for eye in (R_EYE, L_EYE):
        fig.disc(k[eye], 0.0095, 0.011, EYE_M)
    fig.disc(k[NOSE] + _v(0, 0.03), 0.016, 0.005, MOUTH_M)


def _pattern(
    look: _Look, xx: np.ndarray, yy: np.ndarray, origin: tuple[float, float], period: float
) -> np.ndarray:
    """Where the garment shows its pattern colour: horizontal stripes or a staggered dot grid that
    move with the body (`origin` = the neck, `period` in drawing pixels)."""
    v = (yy - origin[1]) / period
    if look.pattern == "stripes":
        return v % 1 < 0.42
    if look.pattern == "dots":
        u = (xx - origin[0]) / period + 0.5 * (np.floor(v) % 2)
        return (u % 1 - 0.5) ** 2 + (v % 1 - 0.5) ** 2 < 0.27**2
    return np.zeros(np.broadcast_shapes(xx.shape, yy.shape), bool)


def _render(fig: _Figure, look: _Look, k: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Colour the part map: gradient background with a soft shadow under the feet, materials with
    the garment pattern, darker part outlines, then box-filter down and add a little sensor noise."""
    ss, scale = fig.ss, fig.scale * fig.ss
    ids = np.asarray(fig.ids)
    n = size * ss
    yy, xx = np.arange(n, dtype=np.float32)[:, None], np.arange(n, dtype=np.float32)[None, :]
    top, low = (np.float32(c) for c in look.background)
    t = yy / n
    feet = fig.px((k[R_ANKLE] + k[L_ANKLE]) / 2 + _v(0, 0.045))
    w = max(abs(k[R_ANKLE][0] - k[L_ANKLE][0]) / 2 + 0.12, 0.15) * scale
    shadow = np.exp(-(((xx - feet[0]) / w) ** 2)) * np.exp(-(((yy - feet[1]) / (0.025 * scale)) ** 2))
    light = 1 - 0.25 * shadow  # (n, n), separable
    material = np.array(fig.parts, np.uint8)[ids]
    body = material != BACKGROUND
    colours = np.stack([np.zeros(3, np.float32), look.skin, look.hair, look.top, look.bottom, look.shoes,
                        np.array([35, 25, 20], np.float32), look.skin * 0.62]).astype(np.float32)  # fmt: skip
    colour = colours[material]
    spots = _pattern(look, xx, yy, fig.px(k[NECK]), 0.065 * scale) & (material == TOP_M)
    colour[spots] = np.float32(look.pattern_colour)
    d = max(1, ss // 2)  # outline width in drawing pixels: half an output pixel
    edge = np.zeros(ids.shape, bool)
    edge[d:] |= ids[d:] != ids[:-d]
    edge[:-d] |= ids[:-d] != ids[d:]
    edge[:, d:] |= ids[:, d:] != ids[:, :-d]
    edge[:, :-d] |= ids[:, :-d] != ids[:, d:]
    shade = np.where(edge, np.float32(0.62), np.float32(1)) * (1.06 - 0.12 * xx / n)  # lit from the left
    canvas = np.where(
        body[..., None], colour * shade[..., None], (top * (1 - t) + low * t)[..., None, :] * light[..., None]
    )
    big = Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
    small = np.asarray(big.reduce(ss), np.float32) + rng.normal(0, 1.5, (size, size, 3)).astype(np.float32)
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


def person(seed: int, identity: int, pose_index: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Identity `identity` of demo set `seed` in pose `pose_index`: (image uint8 (size, size, 3),
    keypoints float32 (18, 2) as (x, y) pixels in KEYPOINTS order, pixel (i, j) centred at (i, j),
    -1 for a missing point: the ear on the far side of a turned head)."""
    look = _Look(np.random.default_rng((seed, identity)))
    rng = np.random.default_rng((seed, identity, pose_index))
    angles = _angles(rng)
    k, extra = _skeleton(look, angles)
    bounds = np.concatenate(
        [k, np.stack([extra["top"], extra["r_toe"], extra["l_toe"], extra["r_hand"], extra["l_hand"]])]
    )
    scale, offset = _fit(bounds, look, rng, size)
    hidden = [L_EAR] if angles["yaw"] > 0.3 else [R_EAR] if angles["yaw"] < -0.3 else []
    fig = _Figure(size, 4 if size <= 96 else 2, scale, offset)
    _draw(fig, look, k, extra, hidden)
    image = _render(fig, look, k, rng, size)
    points = (k * scale + offset).astype(np.float32)
    points[hidden] = -1
    return image, points


def split_sizes(n: int) -> dict[str, int]:
    """Identities per split: the last n // 8 identities (at least one when n >= 2) are the test split."""
    if n < 1:
        raise I2IError("--n must be at least 1")
    test = max(1, n // 8) if n >= 2 else 0
    return {"train": n - test, "test": test}


def image_name(identity: int, pose_index: int) -> str:
    return f"id{identity:05d}_pose{pose_index}.png"


def _coords(values: np.ndarray) -> str:
    """ "[12, 30, -1]": rounded pixel coordinates, -1 kept for missing points."""
    return "[" + ", ".join(str(-1 if v < 0 else round(float(v))) for v in values) + "]"


def write_people(out: Path, n: int | None = None, seed: int = 0, size: int = 64) -> dict[str, int]:
    """Write `n` (default 40) identities in POSES_PER_IDENTITY poses each as the DeepFashion
    pose-transfer layout under `out` (see the module docstring); returns images per split."""
    out = Path(out)
    counts = split_sizes(40 if n is None else int(n))
    written, identity = {}, 0
    for split, count in counts.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        names, rows, pairs = [], [], []
        for _ in range(count):
            poses = [image_name(identity, p) for p in range(POSES_PER_IDENTITY)]
            for p, name in enumerate(poses):
                image, points = person(seed, identity, p, size)
                Image.fromarray(image).save(folder / name)
                names.append(name)
                rows.append(f"{name}:{_coords(points[:, 1])}:{_coords(points[:, 0])}")
            pairs += [(a, b) for a in poses for b in poses if a != b]
            identity += 1
        (out / f"{split}.lst").write_text("".join(f"{name}\n" for name in names))
        (out / f"annotation-{split}.csv").write_text(
            "name:keypoints_y:keypoints_x\n" + "".join(f"{r}\n" for r in rows)
        )
        with open(out / f"pairs-{split}.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(("from", "to"))
            writer.writerows(pairs)
        written[split] = len(names)
    return written
