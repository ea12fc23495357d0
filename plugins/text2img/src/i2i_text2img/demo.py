"""`i2i data demo text2img`: procedurally drawn birds with captions, in the CUB-200-2011 layout.

Every bird has known attributes: body, wing, crown and beak colours (from a small named palette),
beak length (short | long, the long beak about three times the short one), size (small | large: a
smaller body with a relatively bigger head and shorter tail, so it stays visible after the crop to
the bird's box), pose (perched | flying, facing left | right) and background (sky | grass | branch).
Each image gets ten CUB-style captions that mention different subsets of the attributes, nearly
always the body colour, and never left/right (a horizontal flip keeps every caption true).

The files are those of CUB-200-2011 as AttnGAN and DF-GAN prepare it, so the real reader reads them:

    OUT/CUB_200_2011/images/<class>/<name>.jpg     class = body colour, e.g. 001.red_bird
    OUT/CUB_200_2011/images.txt                    "<id> <class>/<name>.jpg"
    OUT/CUB_200_2011/bounding_boxes.txt            "<id> x y w h", the bird's true box in pixels
    OUT/CUB_200_2011/classes.txt                   "<class id> <class>"
    OUT/text/<class>/<name>.txt                    ten captions, one a line
    OUT/train/filenames.pickle, OUT/test/...       pickled list of "<class>/<name>" (protocol 2)
    OUT/attributes.jsonl                           the ground truth, one JSON object per image

Everything comes from `numpy.random.default_rng((seed, index))`: the same seed writes the same bytes.
Body colour and beak length follow the index (all 18 combinations in every 18 consecutive images);
the other attributes are drawn at random.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from i2i.errors import I2IError

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (205, 35, 35),
    "blue": (40, 80, 215),
    "yellow": (245, 215, 40),
    "green": (40, 155, 55),
    "black": (28, 28, 30),
    "white": (246, 246, 242),
    "brown": (135, 85, 45),
    "orange": (245, 135, 30),
    "grey": (135, 135, 140),
}
COLOURS = tuple(PALETTE)
BEAK_COLOURS = ("black", "yellow", "orange", "red", "grey", "white", "brown")
BEAK_LENGTHS = ("short", "long")
SIZES = ("small", "large")
POSES = ("perched", "flying")
FACINGS = ("left", "right")
BACKGROUNDS = ("sky", "grass", "branch")
CLASS_DIRS = {c: f"{i + 1:03d}.{c}_bird" for i, c in enumerate(COLOURS)}
CAPTIONS_PER_IMAGE = 10
TEST_FRACTION = 0.15
SUPERSAMPLE = 4  # drawn at 4x and reduced: smooth edges at 64 x 64


# ---- drawing -------------------------------------------------------------------------------------
def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 40) -> list:
    """A rotated ellipse as a polygon (PIL draws only axis-aligned ones)."""
    ca, sa = math.cos(angle), math.sin(angle)
    pts = []
    for k in range(n):
        t = 2 * math.pi * k / n
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return pts


def _shade(colour: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * f)))) for c in colour)  # type: ignore[return-value]


def _outline(colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """A darker edge so a bird never melts into a background of its own colour."""
    if sum(colour) < 150:
        return (70, 70, 75, 255)
    return (*_shade(colour, 0.5), 255)


GRADIENTS = {  # background: (top, bottom) colour; branch is soft out-of-focus foliage
    "sky": ((60, 120, 205), (175, 210, 240)),
    "grass": ((120, 175, 225), (200, 225, 240)),
    "branch": ((150, 180, 130), (215, 220, 190)),
}


def _background(rng: np.random.Generator, kind: str, w: int) -> np.ndarray:
    """(w, w, 3) float: a vertical gradient with a little random tint and noise."""
    y = np.linspace(0.0, 1.0, w, dtype=np.float32)[:, None, None]
    top, bottom = (np.array(c, np.float32) for c in GRADIENTS[kind])
    tint = rng.uniform(0.9, 1.08, 3).astype(np.float32)
    img = (top + (bottom - top) * y) * tint
    return np.broadcast_to(img, (w, w, 3)).copy()


def _wing(rot: Any, a: float, b: float, up: float, shift: float) -> list:
    """A raised wing: a rounded leading edge swept back to the tip, a ragged trailing edge."""
    return [
        rot(shift + 0.3 * a, -0.15 * b),
        rot(shift + 0.25 * a, -0.55 * up),
        rot(shift - 0.05 * a, -0.9 * up),
        rot(shift - 0.35 * a, -up),
        rot(shift - 0.4 * a, -0.7 * up),
        rot(shift - 0.55 * a, -0.6 * up),
        rot(shift - 0.5 * a, -0.3 * up),
        rot(shift - 0.5 * a, -0.15 * b),
    ]


def _bird(rng: np.random.Generator, attrs: dict[str, Any], w: int) -> tuple[Image.Image, float]:
    """The bird alone on a transparent (w, w) layer, and the y of the surface it stands on."""
    layer = Image.new("RGBA", (w, w), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    d = 1.0 if attrs["facing"] == "right" else -1.0
    large = attrs["size"] == "large"
    flying = attrs["pose"] == "flying"
    a = w * (rng.uniform(0.2, 0.24) if large else rng.uniform(0.13, 0.16))  # body half-length
    b = a * rng.uniform(0.58, 0.66)  # body half-height
    rh = a * (0.42 if large else 0.55)  # head radius: small birds have relatively big heads
    tail = a * (0.75 if large else 0.5)
    cx = w * 0.5 + w * rng.uniform(-0.08, 0.08)
    cy = w * (0.55 if flying else 0.5) + w * rng.uniform(-0.06, 0.06)
    tilt = 0.0 if flying else -0.3 * d  # perched birds sit up, head high
    ow = max(1, round(w / 64 * 1.2))  # outline width: about one output pixel
    body, wing, crown = (PALETTE[attrs[k]] for k in ("body", "wing", "crown"))
    beak = PALETTE[attrs["beak_colour"]]

    def rot(x: float, y: float) -> tuple[float, float]:
        """Body-frame offset (x forward, y down) -> image point."""
        ca, sa = math.cos(tilt), math.sin(tilt)
        return cx + d * x * ca - y * sa, cy + d * x * sa + y * ca

    def fill(colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
        return (*colour, 255)

    # legs (behind the body), down to the surface
    leg_len = b * 0.9
    surface = cy + b * 0.8 + leg_len
    if not flying:
        for lx in (-0.15, 0.15):
            x0, y0 = rot(lx * a, b * 0.6)
            draw.line([(x0, y0), (x0 + d * a * 0.05, surface)], fill=(60, 50, 40, 255), width=2 * ow)
    # tail: a fan behind the body, in the wing colour
    t0, t1 = rot(-0.75 * a, -0.25 * b), rot(-0.75 * a, 0.25 * b)
    spread = b * (0.55 if flying else 0.45)
    droop = 0.0 if flying else b * 0.7
    tip_up = rot(-(a + tail), -spread + droop)
    tip_down = rot(-(a + tail), spread + droop)
    draw.polygon([t0, tip_up, tip_down, t1], fill=fill(_shade(wing, 0.85)), outline=_outline(wing))
    # far wing when flying (darker, behind the body)
    if flying:
        up = rng.uniform(2.0, 2.6) * b
        draw.polygon(_wing(rot, a, b, up * 0.85, 0.25 * a), fill=fill(_shade(wing, 0.7)))
    # body and head
    draw.polygon(_ellipse(cx, cy, a, b, tilt), fill=fill(body), outline=_outline(body), width=ow)
    hx, hy = rot(0.8 * a, -0.75 * b)
    # beak: a triangle from the front of the head; long is about three times short
    length = rh * (1.7 if attrs["beak_length"] == "long" else 0.55)
    half = rh * (0.26 if attrs["beak_length"] == "long" else 0.34)
    bx = hx + d * rh * 0.8
    draw.polygon(
        [(bx - d * rh * 0.1, hy - half), (bx + d * length, hy + rh * 0.12), (bx - d * rh * 0.1, hy + half)],
        fill=fill(beak),
        outline=_outline(beak),
    )
    head_box = (hx - rh, hy - rh, hx + rh, hy + rh)
    draw.ellipse(head_box, fill=fill(body), outline=_outline(body), width=ow)
    draw.chord(head_box, 190, 350, fill=fill(crown), outline=_outline(crown), width=ow)
    # near wing: folded on the body when perched, raised when flying
    if flying:
        up = rng.uniform(2.2, 2.8) * b
        draw.polygon(_wing(rot, a, b, up, 0.0), fill=fill(wing), outline=_outline(wing))
    else:
        wx, wy = rot(-0.15 * a, -0.12 * b)
        draw.polygon(
            _ellipse(wx, wy, 0.56 * a, 0.44 * b, tilt - 0.12 * d), fill=fill(wing), outline=_outline(wing)
        )
    # eye: dark with a light ring (visible on a black head too)
    ex, ey = hx + d * rh * 0.3, hy - rh * 0.1
    er = max(rh * 0.2, 1.2 * ow)
    draw.ellipse((ex - er * 1.35, ey - er * 1.35, ex + er * 1.35, ey + er * 1.35), fill=(235, 235, 225, 255))
    draw.ellipse((ex - er, ey - er, ex + er, ey + er), fill=(10, 10, 12, 255))
    return layer, surface


def _scene(rng: np.random.Generator, attrs: dict[str, Any], size: int) -> tuple[np.ndarray, list[float]]:
    """(size, size, 3) uint8 picture and the bird's box [x, y, w, h] in its pixels."""
    w = size * SUPERSAMPLE
    bird, surface = _bird(rng, attrs, w)
    canvas = Image.fromarray(np.clip(_background(rng, attrs["background"], w), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    perched = attrs["pose"] == "perched"
    kind = attrs["background"]
    if kind == "grass":
        ground = surface if perched else w * rng.uniform(0.85, 0.95)
        top = np.array([70, 150, 50]) * rng.uniform(0.9, 1.1)
        for k, y in enumerate(range(int(ground), w)):
            shade = 1.0 - 0.35 * k / max(1, w - ground)
            draw.line([(0, y), (w, y)], fill=tuple(int(c * shade) for c in top))
        for _ in range(24):  # blades
            x = rng.uniform(0, w)
            draw.line(
                [
                    (x, ground + 2),
                    (x + rng.uniform(-3, 3) * SUPERSAMPLE, ground - rng.uniform(1, 3) * SUPERSAMPLE),
                ],
                fill=(50, 120, 40),
                width=SUPERSAMPLE,
            )
    elif kind == "branch":
        thick = w * 0.045
        if perched:
            y0 = surface + thick * 0.5
            slope = rng.uniform(-0.12, 0.12)
            xb = float(np.asarray(bird.getchannel("A")).any(axis=0).nonzero()[0].mean())
            left, right = (0, y0 - slope * xb), (w, y0 + slope * (w - xb))
        else:
            y0 = w * rng.uniform(0.82, 0.92)
            left, right = (0, y0 + w * 0.05), (w, y0 - w * 0.05)
        draw.line([left, right], fill=(95, 65, 40), width=int(thick))
        draw.line([left, right], fill=(125, 90, 55), width=max(1, int(thick * 0.35)))
    elif perched:  # a wire across the sky
        draw.line([(0, surface + 1), (w, surface - w * 0.03)], fill=(45, 45, 50), width=SUPERSAMPLE)
    box = bird.getchannel("A").getbbox()
    canvas.paste(bird, (0, 0), bird)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float32) + rng.normal(0.0, 2.5, (size, size, 3))
    x0, y0, x1, y1 = (float(v) / SUPERSAMPLE for v in box)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), [x0, y0, x1 - x0, y1 - y0]


# ---- attributes and captions ----------------------------------------------------------------------
def attributes(seed: int, index: int) -> tuple[np.random.Generator, dict[str, Any]]:
    """The attributes of bird `index` of demo set `seed` (and the rng, positioned after them)."""
    rng = np.random.default_rng((seed, index))
    combo = index % (len(COLOURS) * len(BEAK_LENGTHS))
    attrs: dict[str, Any] = {
        "body": COLOURS[combo % len(COLOURS)],
        "wing": COLOURS[int(rng.integers(len(COLOURS)))],
        "crown": COLOURS[int(rng.integers(len(COLOURS)))],
        "beak_colour": BEAK_COLOURS[int(rng.integers(len(BEAK_COLOURS)))],
        "beak_length": BEAK_LENGTHS[combo // len(COLOURS)],
        "size": SIZES[int(rng.integers(2))],
        "pose": POSES[int(rng.random() < 0.35)],
        "facing": FACINGS[int(rng.integers(2))],
        "background": BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))],
    }
    return rng, attrs


_BEAK_WORDS = {
    "short": ("short", "short", "stubby", "short pointed"),
    "long": ("long", "long", "long pointed", "long thin"),
}
_BILL = ("beak", "beak", "bill")
_ARTICLE = re.compile(r"\ba ([aeiou])")
_BODY_PART = ("body", "body", "belly", "breast")


def captions(rng: np.random.Generator, attrs: dict[str, Any]) -> list[str]:
    """Ten CUB-style captions; eight of them name the body colour."""
    body, wing, crown, beak_c, size = (attrs[k] for k in ("body", "wing", "crown", "beak_colour", "size"))
    flying = attrs["pose"] == "flying"

    def pick(options: tuple[str, ...]) -> str:
        return options[int(rng.integers(len(options)))]

    def bl() -> str:
        return pick(_BEAK_WORDS[attrs["beak_length"]])

    where = {
        ("sky", False): "perched on a wire",
        ("sky", True): "flying in the blue sky",
        ("grass", False): "standing on the grass",
        ("grass", True): "flying over the grass",
        ("branch", False): "perched on a branch",
        ("branch", True): "flying past a branch",
    }[(attrs["background"], flying)]
    with_body = [
        lambda: f"this bird has a {body} {pick(_BODY_PART)}, a {crown} crown and a {bl()} {pick(_BILL)}",
        lambda: f"a {size} {body} bird with {wing} wings and a {bl()} {pick(_BILL)}",
        lambda: f"this {size} bird is mostly {body} with a {crown} head",
        lambda: f"a {body} bird with a {bl()} {beak_c} {pick(_BILL)}",
        lambda: f"the bird has {wing} wings, a {body} {pick(_BODY_PART)} and a {bl()} {pick(_BILL)}",
        lambda: f"a {body} bird {where}",
        lambda: f"a {size} bird with a {body} breast, a {crown} crown and {wing} wings",
        lambda: f"this bird is {body} with {wing} wing feathers and a {beak_c} {pick(_BILL)}",
        lambda: (
            f"a {body} and {wing} bird with a {bl()} {pick(_BILL)}"
            if wing != body
            else f"an all {body} bird with a {bl()} {pick(_BILL)}"
        ),
        lambda: f"this is a {size} {body} bird {where}",
        lambda: f"a {body} bird with a {crown} top of the head and a {bl()} {beak_c} {pick(_BILL)}",
        lambda: f"this {body} bird has a {bl()} {pick(_BILL)} and {wing} secondaries",
    ]
    without_body = [
        lambda: f"this bird has a {crown} crown, {wing} wings and a {beak_c} {pick(_BILL)}",
        lambda: f"a {size} bird with a {bl()} {beak_c} {pick(_BILL)} and {wing} wings",
        lambda: f"a bird with a {crown} crown {where}",
        lambda: f"this {size} bird has a {bl()} {pick(_BILL)}",
    ]
    chosen = [with_body[i] for i in rng.permutation(len(with_body))[: CAPTIONS_PER_IMAGE - 2]]
    chosen += [without_body[i] for i in rng.permutation(len(without_body))[:2]]
    order = rng.permutation(len(chosen))
    return [_ARTICLE.sub(r"an \1", chosen[i]()) for i in order]


# ---- writing -------------------------------------------------------------------------------------
def held_out_indices(n: int) -> list[int]:
    """The held-out images: about 15%, at least 2, spread evenly over the indices (and so over the
    body colour x beak length combinations)."""
    count = max(2, round(n * TEST_FRACTION))
    return sorted({round(float(v)) for v in np.linspace(1, n - 1, count)})


def file_key(index: int, body: str) -> str:
    return f"{CLASS_DIRS[body]}/{body}_bird_{index:04d}"


def write_birds(out: Path, n: int | None = None, seed: int = 0, size: int = 64) -> dict[str, int]:
    """Write `n` (default 512) birds with captions in the CUB-200-2011 layout; returns split counts."""
    out = Path(out)
    n = 512 if n is None else int(n)
    if n < 4:
        raise I2IError(f"a text2img demo set needs at least 4 images, not {n}")
    if size < 32:
        raise I2IError(f"demo birds need a size of at least 32 pixels, not {size}")
    cub = out / "CUB_200_2011"
    test = set(held_out_indices(n))
    splits: dict[str, list[str]] = {"train": [], "test": []}
    images, boxes, attr_lines = [], [], []
    for index in range(n):
        rng, attrs = attributes(seed, index)
        picture, box = _scene(rng, attrs, size)
        lines = captions(rng, attrs)
        key = file_key(index, attrs["body"])
        split = "test" if index in test else "train"
        image_path = cub / "images" / f"{key}.jpg"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(image_path, format="JPEG", quality=95, subsampling=0)
        text_path = out / "text" / f"{key}.txt"
        text_path.parent.mkdir(parents=True, exist_ok=True)
        text_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        images.append(f"{index + 1} {key}.jpg")
        boxes.append(f"{index + 1} " + " ".join(f"{v:.2f}" for v in box))
        splits[split].append(key)
        attr_lines.append(json.dumps({"file": key, "split": split, **attrs, "bbox": box}))
    (cub / "images.txt").write_text("\n".join(images) + "\n")
    (cub / "bounding_boxes.txt").write_text("\n".join(boxes) + "\n")
    (cub / "classes.txt").write_text("".join(f"{i + 1} {CLASS_DIRS[c]}\n" for i, c in enumerate(COLOURS)))
    for split, keys in splits.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        (out / split / "filenames.pickle").write_bytes(pickle.dumps(keys, protocol=2))
    (out / "attributes.jsonl").write_text("\n".join(attr_lines) + "\n")
    return {split: len(keys) for split, keys in splits.items()}
