"""`i2i data demo face2img`: procedural talking heads in the VoxCeleb-style clip layout.

Face reenactment learns "this person, that face": the generator gets a portrait and the 68 landmarks
of a driving frame and must draw the same person with the driving expression and head pose. It
trains on pairs of frames from one video (self-reenactment), so the demo set needs what VoxCeleb
has and random images lack: ONE identity seen in many expressions and poses (mouth open and shut,
eyes blinking, head turning), with landmarks that are exact, not a detector's guess. Each clip is
one procedural person (face shape, skin tone, eyes, brows, nose, lips, hair style and colour,
clothes, background: `numpy.random.default_rng((seed, clip))`), and each frame a smooth function
of the frame index (talking, blinks, head roll / pitch / yaw, shift and zoom), so any frame can be
drawn on its own and the same seed writes the same bytes.

The face is a set of 3-D points in "face units" (about half the face width; x right, y down, z to
the camera): the 68 iBUG landmarks plus helper outlines (forehead, hair, ears, irises, teeth).
A head pose rotates them (yaw moves the front of the face, with its larger z, further than the
silhouette, so the far side narrows), then an orthographic projection gives pixels. Every
feature is drawn FROM its projected landmarks: Catmull-Rom curves through them make the jaw line,
eye and lip outlines and brows, so each landmark lies exactly on the drawn feature. Shapes are
filled with PIL at 2-4x and box-filtered down (smooth edges, sub-pixel motion between frames);
soft face shading, side light and sensor noise are vectorised numpy: well under 10 ms per 128 px
frame.

The files are what `i2i_face2img.data` reads (docs/data-formats.md):
{train,test}/<clip>/0000.png ... and <clip>/landmarks.json, the per-clip landmark cache format
that extraction from real videos writes (`landmarks.write_landmark_frames`, source "demo").
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from i2i.errors import I2IError
from i2i_face2img.landmarks import N_POINTS, write_landmark_frames

CLIPS = 24
FRAMES_PER_CLIP = 16
TEST_FRACTION = 0.15
CACHE = "landmarks.json"  # = i2i_face2img.data.CACHE (not imported from there: it imports torch)
HAIR_STYLES = ("short", "bangs", "long", "bob", "bun", "curly", "buzz")
CURVE_SAMPLES = 5  # curve points per landmark-to-landmark segment
PIVOT = np.array([0.0, 0.4, 0.0])  # the head turns about a point behind the nose, near the neck


def _rgb(*colours: tuple[int, int, int]) -> np.ndarray:
    return np.array(colours, np.float32)


SKIN = _rgb((255, 224, 198), (241, 196, 168), (226, 174, 140), (204, 148, 110), (176, 120, 86),
            (144, 96, 66), (112, 74, 50), (86, 56, 40))  # fmt: skip
HAIR = _rgb((22, 18, 16), (48, 33, 24), (86, 58, 36), (128, 84, 48), (150, 72, 40), (196, 160, 104),
            (224, 198, 148), (150, 146, 140), (205, 203, 198))  # fmt: skip
IRIS = _rgb((52, 34, 24), (92, 58, 34), (120, 92, 52), (82, 108, 66), (72, 108, 150), (108, 120, 128))
CLOTHES = _rgb((200, 40, 45), (35, 70, 160), (40, 130, 70), (235, 190, 50), (120, 60, 150), (230, 120, 40),
               (30, 150, 160), (240, 240, 235), (45, 45, 50), (210, 110, 150), (130, 160, 60))  # fmt: skip
BACKGROUNDS = _rgb((200, 205, 212), (226, 220, 204), (170, 186, 202), (206, 194, 178), (150, 162, 150),
                   (92, 102, 122), (62, 66, 76), (232, 232, 234), (190, 170, 170), (160, 182, 172))  # fmt: skip
EYE_WHITE = _rgb((238, 234, 228))[0]
MOUTH = _rgb((32, 10, 14))[0]
TONGUE = _rgb((128, 52, 58))[0]
TEETH = _rgb((226, 220, 206))[0]
LASHES = _rgb((28, 20, 20))[0]


class _Look:
    """An identity: what stays the same in every frame of a clip (lengths in face units)."""

    def __init__(self, rng: np.random.Generator) -> None:
        u = rng.uniform
        self.skin = SKIN[rng.integers(len(SKIN))] * u(0.96, 1.04) + u(-4, 4, 3).astype(np.float32)
        self.width, self.jaw, self.squareness = u(0.86, 1.0), u(0.72, 0.9), u(2.0, 2.8)
        self.chin, self.crown = u(1.06, 1.2), u(1.12, 1.28)
        self.eye_x, self.eye_w = u(0.38, 0.45), u(0.16, 0.2)
        self.eye_up, self.eye_low = u(0.08, 0.1), u(0.045, 0.06)  # lid heights above / below the corners
        self.eye_tilt, self.lid_skew = u(-0.02, 0.04), u(-0.1, 0.15)
        self.iris, self.iris_r = IRIS[rng.integers(len(IRIS))] * u(0.9, 1.1), u(0.07, 0.082)
        self.brow_y, self.brow_arch, self.brow_thick = u(-0.27, -0.21), u(0.02, 0.07), u(0.035, 0.06)
        self.brow_inner, self.brow_outer = u(0.08, 0.13), u(0.02, 0.08)
        self.nose_y, self.nose_w, self.nose_z = u(0.36, 0.46), u(0.12, 0.17), u(0.28, 0.42)
        self.mouth_y, self.mouth_w = u(0.7, 0.78), u(0.28, 0.36)
        self.lip_up, self.lip_low = u(0.05, 0.08), u(0.065, 0.1)  # lip thickness
        self.lips = self.skin * _rgb((0.86, 0.6, 0.62))[0] * u(0.88, 1.0) + _rgb((36, 10, 12))[0] * u(0.4, 1)
        self.teeth = u(0, 1)  # how much of the upper teeth show when the mouth opens
        self.style = HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))]
        self.hair = HAIR[rng.integers(len(HAIR))] * u(0.9, 1.1)
        if self.style == "buzz":
            self.hair = self.hair * 0.55 + self.skin * 0.45
        self.volume = {"buzz": 0.02, "curly": u(0.2, 0.3)}.get(self.style, u(0.1, 0.22))
        self.hairline = {"bangs": u(-0.56, -0.5), "buzz": u(-0.85, -0.75)}.get(self.style, u(-0.78, -0.58))
        self.temple, self.part = u(-0.12, 0.02), u(-0.06, 0.06)
        self.length = {"long": u(1.5, 2.1), "bob": u(0.55, 0.85)}.get(self.style, 0.0)
        self.brows = np.minimum(self.hair * 0.6 + 8, self.skin * 0.55)
        self.clothes = CLOTHES[rng.integers(len(CLOTHES))] * u(0.85, 1.05)
        self.shoulders = u(0.9, 1.1)
        background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))] + u(-10, 10, 3).astype(np.float32)
        fade = u(0.72, 0.95) if rng.random() < 0.7 else 1.0  # a vertical gradient or a plain wall
        self.background = (background, background * fade)
        self.light = 1.0 if rng.random() < 0.5 else -1.0  # the lit side of the image: +1 right
        self.scale, self.dx, self.dy = u(0.94, 1.06), u(-0.03, 0.03), u(-0.02, 0.02)


def _wave(spec: tuple[float, float, float, float], t: float) -> float:
    """offset + amplitude * sin(2 pi t / period + phase)."""
    offset, amplitude, period, phase = spec
    return offset + amplitude * float(np.sin(2 * np.pi * t / period + phase))


class _Pose(NamedTuple):
    yaw: float  # degrees; + turns the face's front to the image's right
    pitch: float
    roll: float
    scale: float  # pixels per face unit
    head: np.ndarray  # pixel position of the face origin (centre of the eye line)
    body: np.ndarray  # pixel position of the body origin (the same point, on the unrotated body)


class _Expression(NamedTuple):
    mouth: float  # lip opening in face units (0 = lips touch)
    smile: float  # mouth corner lift in face units
    brows: float  # brow raise in face units
    eyes: float  # lid opening, 1 open .. 0 shut
    gaze: float  # iris shift, -1 (image left) .. 1


class _Motion:
    """A clip's head motion and speech: smooth functions of the frame index, so any frame can be
    drawn on its own and neighbouring frames differ a little."""

    def __init__(self, rng: np.random.Generator) -> None:
        u = rng.uniform

        def wave(
            offset: float, amplitude: float, slow: float, fast: float
        ) -> tuple[float, float, float, float]:
            return (offset, amplitude, u(slow, fast), u(0, 2 * np.pi))

        self.yaw, self.pitch = wave(u(-12, 12), u(4, 14), 14, 40), wave(u(-4, 4), u(1, 5), 10, 30)
        self.roll = wave(u(-6, 6), u(2, 8), 12, 36)
        self.shift_x, self.shift_y = wave(0, u(0.01, 0.04), 14, 40), wave(0, u(0.005, 0.025), 14, 40)
        self.zoom = wave(1, u(0.01, 0.05), 16, 48)
        self.talk, self.syllable, self.talk_phase = u(0.2, 0.32), u(4.2, 7.0), u(0, 2 * np.pi)
        self.phrase = wave(0.65, 0.35, 12, 30)
        self.smile, self.brows = wave(u(-0.01, 0.035), u(0, 0.03), 10, 30), wave(0, u(0, 0.05), 8, 24)
        self.gaze = wave(u(-0.3, 0.3), u(0.1, 0.5), 6, 20)
        # Blinks recur every 9-18 frames; the first starts at frame 1-10, inside any 16-frame clip.
        self.blink_every, self.blink_at = int(rng.integers(9, 19)), int(rng.integers(1, 11))

    def expression(self, t: int) -> _Expression:
        syllable = max(0.0, float(np.sin(2 * np.pi * t / self.syllable + self.talk_phase))) ** 0.8
        blink = {0: 0.45, 1: 0.0, 2: 0.5}.get((t - self.blink_at) % self.blink_every, 1.0)
        brows = max(0.0, _wave(self.brows, t))
        return _Expression(self.talk * _wave(self.phrase, t) * syllable, _wave(self.smile, t), brows, blink,
                           float(np.clip(_wave(self.gaze, t), -1, 1)))  # fmt: skip

    def pose(self, t: int, look: _Look, size: int) -> _Pose:
        scale = 0.26 * size * look.scale * _wave(self.zoom, t)
        shift = np.array([_wave(self.shift_x, t), _wave(self.shift_y, t)])
        base = np.array([0.5 + look.dx, 0.41 + look.dy])
        return _Pose(_wave(self.yaw, t), _wave(self.pitch, t), _wave(self.roll, t), scale,
                     (base + shift) * size, (base + shift * (0.5, 0.3)) * size)  # fmt: skip


# --- geometry: 3-D points in face units ----------------------------------------------------------


def _depth(x: np.ndarray | float, look: _Look) -> np.ndarray:
    """Height of the face surface towards the camera at x: the face is a rounded front."""
    return 0.9 - 0.5 * (np.asarray(x) / look.width) ** 2


def _xyz(x: np.ndarray, y: np.ndarray, z: np.ndarray | float) -> np.ndarray:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return np.stack([x, y, np.broadcast_to(z, x.shape)], -1)


def _ellipse(cx: float, cy: float, rx: float, ry: float, z: float, n: int = 20) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return _xyz(cx + rx * np.cos(a), cy + ry * np.sin(a), z)


def _jaw(look: _Look, drop: float) -> np.ndarray:
    """0-16: a superellipse from the right ear (image left) round the chin; the chin drops with the mouth."""
    t = np.linspace(0, np.pi, 17)
    c, s = np.cos(t), np.sin(t)
    e = 2 / look.squareness
    x = -np.sign(c) * np.abs(c) ** e * look.width * (1 - (1 - look.jaw) * s**2)
    y = 0.02 + (look.chin - 0.02) * s**e + drop * s**3
    return _xyz(x, y, 0.15 + 0.6 * s**2)


def _forehead(look: _Look) -> np.ndarray:
    """The head outline above the jaw ends, from point 16 over the crown back to point 0."""
    a = np.linspace(0, np.pi, 23)[1:-1]
    c, s = np.cos(a), np.sin(a)
    return _xyz(look.width * np.sign(c) * np.abs(c) ** 0.9, 0.02 - look.crown * s**0.9, 0.15)


def _brows(look: _Look, raised: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """17-26 (the brow's centre line, outer end of the right brow first) and its upper and lower edges."""
    u = np.linspace(0, 1, 5)
    x = -(look.eye_x + look.eye_w + look.brow_outer) * (1 - u) - look.brow_inner * u
    y = look.brow_y - raised * (1 - 0.3 * u) - look.brow_arch * np.sin(np.pi * (0.15 + 0.75 * u)) + 0.02 * u
    half = look.brow_thick * (0.55 + 0.45 * u) / 2
    right = [_xyz(x, y + dy, _depth(x, look) + 0.04) for dy in (0, -half, half)]
    centre, top, low = (np.concatenate([p, p[::-1] * (-1, 1, 1)]) for p in right)  # left brow: mirrored
    return centre, top, low


def _nose(look: _Look) -> tuple[np.ndarray, np.ndarray]:
    """27-30 (bridge, top to tip), 31-35 (lower nose, image left to right) and the alar outline."""
    f = np.array([0, 0.35, 0.68, 1])
    bridge = _xyz(np.zeros(4), np.array([-0.04, 0.35 * look.nose_y, 0.68 * look.nose_y, look.nose_y]),
                  0.95 + look.nose_z * f)  # fmt: skip
    xs = look.nose_w * np.array([-1, -0.5, 0, 0.5, 1])
    lower = _xyz(xs, look.nose_y + np.array([0.045, 0.07, 0.085, 0.07, 0.045]),
                 0.95 + look.nose_z * np.array([0.3, 0.55, 0.65, 0.55, 0.3]))  # fmt: skip
    wing = _xyz(look.nose_w * np.array([-0.8, -1.12]), look.nose_y + np.array([-0.06, -0.01]), 0.95)
    outline = np.concatenate([wing, lower, wing[::-1] * (-1, 1, 1)])  # from the right ala round to the left
    return np.concatenate([bridge, lower]), outline


def _eyes(look: _Look, opening: float, gaze: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """36-47 and the irises; `opening` 0 brings the upper lid down onto the lower one."""
    outer = np.array([0, 1 / 3, 2 / 3, 1, 2 / 3, 1 / 3])  # 0 at the outer corner, 1 at the inner
    cx, w = -look.eye_x, look.eye_w
    x = cx - w * (1 - 2 * outer)
    upper = 0.75 * look.eye_low * (1 - opening) - look.eye_up * opening
    lower = look.eye_low * (0.85 + 0.15 * opening)
    skew = look.lid_skew * look.eye_up * opening
    y = np.array([0, upper + skew, upper - skew, 0, lower, lower]) - look.eye_tilt * (1 - outer)
    right = _xyz(x, y, _depth(x, look) - 0.02)
    left = (right * (-1, 1, 1))[[3, 2, 1, 0, 5, 4]]  # 42 inner corner, 43-44 upper lid, 45 outer, 46-47
    iy = (look.eye_low - look.eye_up) / 2
    extra = {}
    for name, sx in (("r", -1), ("l", 1)):
        ix = sx * look.eye_x + gaze * 0.25 * w
        z = float(_depth(ix, look))
        r = look.iris_r
        extra[f"{name}_iris"] = _ellipse(ix, iy, r, r, z)
        extra[f"{name}_iris_in"] = _ellipse(ix, iy, 0.8 * r, 0.8 * r, z)  # inside the darker limbal ring
        extra[f"{name}_pupil"] = _ellipse(ix, iy, 0.42 * r, 0.42 * r, z, 12)
        extra[f"{name}_glint"] = _ellipse(ix + 0.4 * r * look.light, iy - 0.4 * r, 0.2 * r, 0.2 * r, z, 8)
        lid = (right if sx < 0 else left)[:4]
        extra[f"{name}_shadow"] = lid + np.array([0, 0.02, 0])  # the upper lid's shadow on the eyeball
        extra[f"{name}_crease"] = lid[1:3] + np.array([0, -0.055 - 0.02 * opening, 0])
    return np.concatenate([right, left]), extra


def _mouth(look: _Look, opening: float, smile: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """48-67: the lip seam curves up at the corners when smiling; opening lifts the upper lip a
    little and drops the lower lip (with the jaw) more. Also the teeth's lower edge and the tongue."""
    mw = look.mouth_w * (1 - 0.25 * opening / 0.3) + 0.5 * smile
    iw, my = mw - 0.03, look.mouth_y

    def seam(xf: np.ndarray) -> np.ndarray:
        return my - smile * xf**2

    def gap(xf: np.ndarray) -> np.ndarray:
        return np.sqrt(1 - np.minimum(xf**2, 1))

    of = np.array([-1, -0.6, -0.22, 0, 0.22, 0.6, 1])  # outer upper, 48-54
    up = (
        seam(of)
        - (0.3 * opening + look.lip_up * np.array([0, 0.8, 1.08, 0.92, 1.08, 0.8, 0])) * gap(of) ** 0.3
    )
    lf = np.array([0.6, 0.25, 0, -0.25, -0.6])  # outer lower, 55-59
    low = seam(lf) + (0.7 * opening + look.lip_low * np.array([0.8, 0.97, 1, 0.97, 0.8])) * gap(lf) ** 0.3
    inf = np.array([-1, -0.45, 0, 0.45, 1, 0.45, 0, -0.45])  # inner, 60-67
    inner_y = seam(inf) + np.where(np.arange(8) < 5, -0.3, 0.7) * opening * gap(inf)
    xs = np.concatenate([of * mw, lf * mw, inf * iw])
    points = _xyz(xs, np.concatenate([up, low, inner_y]), _depth(xs, look) + 0.08)
    extra = {"tongue": _ellipse(0, my + 0.8 * opening, 0.55 * iw, 0.3 * opening + 1e-3, 0.9)}
    teeth = min(0.045, 0.3 * opening) * look.teeth
    if teeth > 0.005:  # the teeth's lower edge: the inner upper lip (60-64) moved down
        extra["teeth"] = points[12:17] + np.array([0, teeth, 0])
    return points, extra


def _hair(look: _Look) -> dict[str, np.ndarray]:
    """The hair cap (crown down to the hairline), hair behind the head (long, bob) and a bun."""
    a = np.linspace(0, np.pi, 31)
    c, s = np.cos(a), np.sin(a)
    bumps = 1 + 0.05 * np.abs(np.sin(9 * a)) if look.style == "curly" else 1.0
    rx, top = (look.width + look.volume) * bumps, (look.crown + 1.3 * look.volume) * bumps
    outer = _xyz(rx * np.sign(c) * np.abs(c) ** 0.9, 0.14 - top * s**0.9, 0.1)
    b = np.linspace(np.pi, 0, 31)
    rise = np.sin(b) ** (0.35 if look.style == "bangs" else 0.5)
    y = look.temple + (look.hairline - look.temple) * rise + look.part * np.cos(b)
    if look.style == "bangs":
        y = y + 0.03 * (np.arange(31) % 2) * rise  # a jagged fringe
    hairline = _xyz((look.width + 0.02) * np.cos(b), y, 0.4)
    parts = {"cap": np.concatenate([outer, hairline])}
    for i, f in enumerate((0.4, 0.7)):  # strands: curves between the crown and the hairline
        parts[f"strand{i}"] = (outer * (1 - f) + hairline[::-1] * f)[3:-3]
    if look.length:
        w, side = look.width + look.volume + 0.05, 0.25 if look.style == "long" else 0.12
        body = _xyz(
            np.array([-w, -w - side, w + side, w]), np.array([0.6, look.length, look.length, 0.6]), -0.4
        )
        parts["back"] = np.concatenate([outer * (1.04, 1.02, 1) + (0, 0, -0.5), body])
    if look.style == "bun":
        parts["bun"] = _ellipse(0, -top - 0.1, 0.28, 0.22, -0.2)
    return parts


def _ears(look: _Look) -> dict[str, np.ndarray]:
    w = look.width - 0.03
    return {
        "ear_r": _ellipse(-w, 0.2, 0.1, 0.22, -0.05),
        "ear_l": _ellipse(w, 0.2, 0.1, 0.22, -0.05),
        "ear_r_in": _ellipse(-w - 0.03, 0.2, 0.045, 0.13, -0.05),
        "ear_l_in": _ellipse(w + 0.03, 0.2, 0.045, 0.13, -0.05),
    }


def _body(look: _Look) -> dict[str, np.ndarray]:
    """Neck (with a V neckline) and shoulders, 2-D in face units around the body origin."""
    nw = 0.42 * look.width
    neck = np.array([[-nw, 0.2], [nw, 0.2], [nw * 1.05, 1.5], [nw * 1.3, 1.62], [0, 1.95], [-nw * 1.3, 1.62],
                     [-nw * 1.05, 1.5]])  # fmt: skip
    x = np.array([-2.8, -2.1, -1.2, -0.45, 0.45, 1.2, 2.1, 2.8]) * look.shoulders
    y = np.array([2.2, 1.75, 1.55, 1.45, 1.45, 1.55, 1.75, 2.2])
    return {"neck": neck, "shoulders": np.stack([x, y], -1)}


def _rotation(pose: _Pose) -> np.ndarray:
    yaw, pitch, roll = np.radians([pose.yaw, pose.pitch, pose.roll])
    (cy, cp, cr), (sy, sp, sr) = np.cos([yaw, pitch, roll]), np.sin([yaw, pitch, roll])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def _geometry(look: _Look, ex: _Expression, pose: _Pose) -> dict[str, np.ndarray]:
    """Everything to draw, in output pixels (pixel (i, j) centred at x = i, y = j); 'landmarks' is (68, 2)."""
    points = np.zeros((N_POINTS, 3))
    points[0:17] = _jaw(look, 0.7 * ex.mouth)
    points[17:27], brow_top, brow_low = _brows(look, ex.brows)
    points[27:36], nose_outline = _nose(look)
    points[36:48], eye_parts = _eyes(look, ex.eyes, ex.gaze)
    points[48:68], mouth_parts = _mouth(look, ex.mouth, ex.smile)
    head = {"landmarks": points, "forehead": _forehead(look), "brow_top": brow_top, "brow_low": brow_low,
            "nose_outline": nose_outline, **eye_parts, **mouth_parts, **_ears(look)}  # fmt: skip
    head.update(_hair(look))
    rotation = _rotation(pose)

    def project(p: np.ndarray) -> np.ndarray:
        return pose.head + pose.scale * ((p - PIVOT) @ rotation.T + PIVOT)[:, :2]

    out = {name: project(p) for name, p in head.items()}
    out.update({name: pose.body + pose.scale * p for name, p in _body(look).items()})
    return out


# --- drawing -------------------------------------------------------------------------------------

_T = np.linspace(0, 1, CURVE_SAMPLES, endpoint=False)[:, None]
_BASIS = 0.5 * np.hstack([-(_T**3) + 2 * _T**2 - _T, 3 * _T**3 - 5 * _T**2 + 2, -3 * _T**3 + 4 * _T**2 + _T,
                          _T**3 - _T**2])  # fmt: skip


def _curve(points: np.ndarray, closed: bool = False) -> np.ndarray:
    """A Catmull-Rom curve through `points` (k, 2): every point is a vertex of the result, so a
    feature drawn from the curve passes exactly through its landmarks."""
    p = np.asarray(points, np.float64)
    if closed:
        ext = np.concatenate([p[-1:], p, p[:2]])
    else:
        ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
    control = ext[np.arange(len(ext) - 3)[:, None] + np.arange(4)]  # (segments, 4, 2)
    out = np.einsum("sk,gkd->gsd", _BASIS, control).reshape(-1, 2)
    return out if closed else np.concatenate([out, p[-1:]])


def _outline(points: np.ndarray, upper: list[int], lower: list[int]) -> np.ndarray:
    """A closed shape with sharp corners: a curve through `upper` and one back through `lower`."""
    return np.concatenate([_curve(points[upper]), _curve(points[lower])[1:-1]])


def _oval(centre: np.ndarray, rx: float, ry: float, n: int = 12) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.asarray(centre) + np.stack([rx * np.cos(a), ry * np.sin(a)], -1)


def _fill(colour: np.ndarray) -> tuple[int, int, int]:
    r, g, b = np.clip(np.asarray(colour, np.float64) + 0.5, 0, 255).astype(int)
    return int(r), int(g), int(b)


class _Painter:
    """PIL drawing at `ss` times the output size, in output-pixel coordinates; `origin` is the output
    pixel at the image's top-left corner (a cropped layer)."""

    def __init__(self, image: Image.Image, ss: int, origin: np.ndarray | None = None) -> None:
        self.image, self.ss = image, ss
        self.origin = np.zeros(2) if origin is None else origin
        self.draw = ImageDraw.Draw(image)

    def xy(self, points: np.ndarray) -> list[float]:
        return ((np.asarray(points) - self.origin + 0.5) * self.ss - 0.5).ravel().tolist()

    def polygon(self, points: np.ndarray, colour: np.ndarray | int) -> None:
        self.draw.polygon(self.xy(points), fill=colour if isinstance(colour, int) else _fill(colour))

    def line(self, points: np.ndarray, colour: np.ndarray, width: float) -> None:
        """A polyline `width` output pixels wide."""
        self.draw.line(
            self.xy(points), fill=_fill(colour), width=max(1, round(width * self.ss)), joint="curve"
        )

    def layer(self, points: np.ndarray) -> tuple[_Painter, _Painter, tuple[int, int]]:
        """A copy of the region around `points`, an empty mask of it and where to paste them back."""
        size = self.image.size[0] // self.ss
        lo = np.clip(np.floor(points.min(0)) - 2, 0, size - 1)
        hi = np.clip(np.ceil(points.max(0)) + 3, lo + 1, size)
        box = tuple(int(v) * self.ss for v in (*lo, *hi))
        copy = _Painter(self.image.crop(box), self.ss, lo)
        return copy, _Painter(Image.new("L", copy.image.size, 0), self.ss, lo), box[:2]


def _background(look: _Look, n: int) -> Image.Image:
    t = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    top, bottom = look.background
    column = np.clip(top * (1 - t) + bottom * t + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(column[:, None]).resize((n, n), Image.Resampling.NEAREST)


def _draw_head(p: _Painter, look: _Look, g: dict[str, np.ndarray], scale: float) -> np.ndarray:
    """Body, hair and face skin back to front; returns the face outline."""
    p.polygon(np.concatenate([_curve(g["shoulders"]), [[g["shoulders"][-1, 0], 1e4], [g["shoulders"][0, 0], 1e4]]]),
              look.clothes)  # fmt: skip
    for side in "rl":
        p.polygon(g[f"ear_{side}"], look.skin * 0.92)
        p.polygon(g[f"ear_{side}_in"], look.skin * 0.76)
    if "back" in g:
        p.polygon(g["back"], look.hair * 0.85)
    p.polygon(g["neck"], look.skin * 0.78)
    if "bun" in g:
        p.polygon(g["bun"], look.hair * 0.92)
    face = np.concatenate([_curve(g["landmarks"][0:17]), g["forehead"]])
    p.polygon(face, look.skin)
    p.polygon(g["cap"], look.hair)
    for strand in ("strand0", "strand1"):
        p.line(_curve(g[strand]), look.hair * 0.8, 0.012 * scale)
    return face


def _draw_features(p: _Painter, look: _Look, g: dict[str, np.ndarray], scale: float) -> None:
    """Brows, nose and lips, then eyeballs and the mouth's inside clipped to their outlines, then
    lashes and lines on top."""
    k = g["landmarks"]
    for brow in (slice(0, 5), slice(5, 10)):
        p.polygon(
            np.concatenate([_curve(g["brow_top"][brow]), _curve(g["brow_low"][brow])[::-1]]), look.brows
        )
    p.line(_curve(k[27:31]), look.skin * 1.05, 0.05 * scale)
    p.line(_curve(k[27:31]) + np.array([-0.04 * scale * look.light, 0]), look.skin * 0.9, 0.03 * scale)
    p.polygon(_oval(k[30], 0.05 * scale, 0.04 * scale), look.skin * 1.06)
    p.line(_curve(g["nose_outline"]), look.skin * 0.72, 0.025 * scale)
    for nostril in (k[32], k[34]):
        p.polygon(_oval(nostril, 0.035 * scale, 0.018 * scale), look.skin * 0.42)
    p.polygon(_outline(k, [48, 49, 50, 51, 52, 53, 54], [54, 55, 56, 57, 58, 59, 48]), look.lips)
    p.polygon(np.concatenate([_curve(k[48:55]), _curve(k[60:65])[::-1]]), look.lips * 0.86)
    _draw_openings(p, look, g)
    for eye, lower in ((slice(36, 40), [39, 40, 41, 36]), (slice(42, 46), [45, 46, 47, 42])):
        p.line(_curve(k[eye]), LASHES, 0.03 * scale)
        p.line(_curve(k[lower]), look.skin * 0.8, 0.012 * scale)
    for side in "rl":
        p.line(_curve(g[f"{side}_crease"]), look.skin * 0.84, 0.012 * scale)
    p.line(_curve(k[60:65]), look.lips * 0.5, 0.018 * scale)
    low_lip = (k[66] + k[57]) / 2
    rx, ry = 0.3 * float(np.hypot(*(k[54] - k[48]))) / 2, 0.25 * float(np.hypot(*(k[57] - k[66])))
    p.polygon(_oval(low_lip, rx, ry), look.lips * 1.1)


def _draw_openings(p: _Painter, look: _Look, g: dict[str, np.ndarray]) -> None:
    """Eye whites, irises and the mouth's inside on a copy, pasted through a mask of the eye and
    inner-lip outlines: a closing lid or lip hides them exactly where the landmarks say."""
    k = g["landmarks"]
    eyes = (("r", [36, 37, 38, 39], [39, 40, 41, 36]), ("l", [42, 43, 44, 45], [45, 46, 47, 42]))
    outlines = [_outline(k, upper, lower) for _, upper, lower in eyes]
    inner = _outline(k, [60, 61, 62, 63, 64], [64, 65, 66, 67, 60])
    layer, mask, corner = p.layer(np.concatenate([*outlines, inner]))
    for (side, upper, _), outline in zip(eyes, outlines):
        mask.polygon(outline, 255)
        layer.polygon(outline, EYE_WHITE)
        layer.polygon(np.concatenate([_curve(k[upper]), _curve(g[f"{side}_shadow"])[::-1]]), EYE_WHITE * 0.8)
        layer.polygon(g[f"{side}_iris"], look.iris * 0.6)
        layer.polygon(g[f"{side}_iris_in"], look.iris)
        layer.polygon(g[f"{side}_pupil"], LASHES * 0.5)
        layer.polygon(g[f"{side}_glint"], EYE_WHITE * 1.05)
    mask.polygon(inner, 255)
    layer.polygon(inner, MOUTH)
    layer.polygon(g["tongue"], TONGUE)
    if "teeth" in g:
        layer.polygon(np.concatenate([_curve(k[60:65]), _curve(g["teeth"])[::-1]]), TEETH)
    p.image.paste(layer.image, corner, mask.image)


def _shade(image: np.ndarray, face: np.ndarray, cap: np.ndarray, look: _Look, scale: float) -> np.ndarray:
    """Darken the face towards its outline (a blurred face mask) and light the image from one side."""
    size = image.shape[0]
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    draw.polygon(face.ravel().tolist(), fill=255)
    draw.polygon(cap.ravel().tolist(), fill=0)
    soft = np.asarray(mask.filter(ImageFilter.GaussianBlur(0.3 * scale)), np.float32) / 255
    hard = np.asarray(mask, np.float32) / 255
    x = np.linspace(-1, 1, size, dtype=np.float32)[None, :]
    light = (1 - 0.12 * (1 - soft) * hard) * (1 + 0.07 * look.light * x)
    return image * light[..., None]


def _check(seed: int, size: int) -> None:
    if size < 32:
        raise I2IError(f"--size must be at least 32, got {size}")
    if seed < 0:
        raise I2IError(f"--seed must be >= 0, got {seed}")


def face(seed: int, clip: int, frame: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Frame `frame` of clip `clip` of demo set `seed`: (image uint8 (size, size, 3), landmarks
    float32 (68, 2) as (x, y) pixels in the iBUG order, pixel (i, j) centred at (i, j)). The
    clip's person comes from `default_rng((seed, clip))`, its motion from `(seed, clip, 1)`."""
    _check(seed, size)
    if clip < 0 or frame < 0:
        raise I2IError(f"clip and frame must be >= 0, got clip {clip}, frame {frame}")
    look = _Look(np.random.default_rng((seed, clip)))
    motion = _Motion(np.random.default_rng((seed, clip, 1)))
    pose = motion.pose(frame, look, size)
    g = _geometry(look, motion.expression(frame), pose)
    ss = 4 if size <= 160 else 2
    painter = _Painter(_background(look, size * ss), ss)
    outline = _draw_head(painter, look, g, pose.scale)
    _draw_features(painter, look, g, pose.scale)
    small = np.asarray(painter.image.reduce(ss), np.float32)
    small = _shade(small, outline, g["cap"], look, pose.scale)
    noise = np.random.default_rng((seed, clip, 2, frame)).normal(0, 1.2, small.shape).astype(np.float32)
    image = np.clip(small + noise + 0.5, 0, 255).astype(np.uint8)
    return image, g["landmarks"].astype(np.float32)


def split_sizes(n: int) -> dict[str, int]:
    """Clips per split: the last ~15% (at least one) are the test split."""
    if n < 2:
        raise I2IError(f"--n must be at least 2 (one train and one test clip), got {n}")
    test = max(1, round(n * TEST_FRACTION))
    return {"train": n - test, "test": test}


def clip_name(clip: int) -> str:
    """Clip folder name: every demo clip is its own identity."""
    return f"id{clip:04d}_clip00"


def frame_name(frame: int) -> str:
    return f"{frame:04d}.png"


def write_faces(
    out: Path, n: int | None = None, seed: int = 0, size: int = 128, frames: int = FRAMES_PER_CLIP
) -> dict[str, int]:
    """Write `n` (default 24) clips of `frames` frames under `out` in the layout of the module
    docstring, with each clip's exact landmarks in its landmarks.json; returns clips per split."""
    counts = split_sizes(CLIPS if n is None else int(n))
    _check(seed, size)
    if frames < 2:
        raise I2IError(f"frames per clip must be at least 2, got {frames}")
    out, clip = Path(out), 0
    for split, count in counts.items():
        for _ in range(count):
            folder = out / split / clip_name(clip)
            folder.mkdir(parents=True, exist_ok=True)
            landmarks = {}
            for t in range(frames):
                image, points = face(seed, clip, t, size)
                Image.fromarray(image).save(folder / frame_name(t), compress_level=3)  # 3x faster than 6
                landmarks[frame_name(t)] = points
            write_landmark_frames(folder / CACHE, landmarks, (size, size), source="demo")
            clip += 1
    return counts
