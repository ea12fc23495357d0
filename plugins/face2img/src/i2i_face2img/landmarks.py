"""Facial landmarks in the 68-point iBUG / Multi-PIE layout: readers, flipping, sketches, retargeting.

The 68-point layout is what dlib, face-alignment (FAN) and the 300-W / 300-VW data sets share, so a
landmark file from any of them drives the same model. Right and left are the *subject's*: the right
eye (36-41) is on the image's left in a frontal photo.

Everything here is numpy + PIL on purpose: it runs per sample in data loaders and in the CLI, where
importing torch would only cost start-up time.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from i2i.data.jsonfile import is_int, is_number, read_json
from i2i.errors import InputError

N_POINTS = 68
GROUPS: dict[str, range] = {
    "jaw": range(0, 17),
    "right_brow": range(17, 22),
    "left_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nose_lower": range(31, 36),
    "right_eye": range(36, 42),
    "left_eye": range(42, 48),
    "outer_lips": range(48, 60),
    "inner_lips": range(60, 68),
}
CLOSED = frozenset({"right_eye", "left_eye", "outer_lips", "inner_lips"})
# One colour per group, so the generator can tell the left eye from the right and the inner lip
# contour (teeth / mouth opening) from the outer one; every pair differs by >= 128 in some channel.
COLOURS: dict[str, tuple[int, int, int]] = {
    "jaw": (255, 255, 255),
    "right_brow": (255, 128, 0),
    "left_brow": (255, 0, 128),
    "nose_bridge": (255, 255, 0),
    "nose_lower": (0, 255, 255),
    "right_eye": (0, 128, 255),
    "left_eye": (128, 0, 255),
    "outer_lips": (255, 0, 0),
    "inner_lips": (0, 255, 0),
}


def _mirror_pairs() -> tuple[int, ...]:
    pairs = [(i, 16 - i) for i in range(17)]  # jaw reversed
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows swapped, outer end <-> outer end
    pairs += [(27 + i, 27 + i) for i in range(4)]  # nose bridge on the mid-line
    pairs += [(31 + i, 35 - i) for i in range(5)]  # nose lower reversed
    # Eyes: outer corner 36 <-> 45, upper lid 37, 38 <-> 44, 43, inner corner 39 <-> 42, lower lid 40, 41 <-> 47, 46
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    # Outer lips: corners 48 <-> 54, upper 49-53 reversed, lower 55-59 reversed (51 and 57 on the mid-line)
    pairs += [(48 + i, 54 - i) for i in range(7)] + [(55 + i, 59 - i) for i in range(5)]
    # Inner lips: corners 60 <-> 64, upper 61-63 reversed, lower 65-67 reversed
    pairs += [(60 + i, 64 - i) for i in range(5)] + [(65 + i, 67 - i) for i in range(3)]
    perm = dict(pairs)
    perm.update({j: i for i, j in pairs})
    return tuple(perm[i] for i in range(N_POINTS))


FLIP = _mirror_pairs()
# Points that barely move with expression (eye corners, nose), used to separate head motion from
# expression: the jaw opens with the mouth and the brows and lids move, so they are left out.
RIGID = (36, 39, 42, 45, 27, 28, 29, 30, 31, 32, 33, 34, 35)
OUTER_EYE_CORNERS = (36, 45)


def flip(points: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally mirrored image: the subject's left and right swap names too,
    so a flipped training pair still has the right eye at 36-41."""
    out = np.asarray(points, dtype=np.float32).copy()
    out[..., 0] = width - 1 - out[..., 0]
    return out[..., FLIP, :]


# --- reading and writing -------------------------------------------------------------------------


def _points(value: Any, path: Path) -> np.ndarray:
    """A list of 68 [x, y] (or [x, y, z], [x, y, score]) -> (68, 2) float32, or InputError."""
    if not isinstance(value, list):
        raise InputError(path, f"landmarks must be a list of {N_POINTS} [x, y] points")
    if not value:
        raise InputError(path, "no landmarks (empty list)")
    if isinstance(value[0], list) and value[0] and isinstance(value[0][0], list):
        value = value[0]  # face-alignment style: one list per face; the first face is the one asked for
    if len(value) != N_POINTS:
        raise InputError(path, f"expected {N_POINTS} landmarks, got {len(value)}")
    for i, point in enumerate(value):
        if not (isinstance(point, list) and len(point) in (2, 3) and all(map(is_number, point))):
            raise InputError(path, f"landmark {i} is not a list of 2 or 3 numbers [x, y(, z)]")
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf, refused below
        points = np.array([p[:2] for p in value], dtype=np.float64).astype(np.float32)
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise InputError(
            path, f"landmark {int(np.argmax(bad))} has NaN or infinity (or a value beyond float32)"
        )
    return points


def read_landmarks_json(path: str | Path) -> np.ndarray:
    """One face's 68 landmarks as (68, 2) float32 pixel coordinates.

    Accepts what the usual tools write: a bare list of 68 [x, y] (z or a score as a third value is
    dropped), {"landmarks": [...]}, or face-alignment's list of faces (the first face is taken:
    a portrait with a second face in the background is still usable). A malformed file raises
    InputError naming the file, so the CLI can print one line instead of a traceback.
    """
    path = Path(path)
    data = read_json(path)
    if isinstance(data, Mapping):
        if "landmarks" not in data:
            raise InputError(path, "no 'landmarks' key in this JSON object")
        data = data["landmarks"]
    return _points(data, path)


def read_landmark_frames(path: str | Path) -> dict[str, np.ndarray | None]:
    """A clip's landmark cache: frame file name -> (68, 2) float32, or None where no face was found.

    Frames without a face stay in the mapping (as None) so a reader can tell "no face" from "not
    extracted yet" and skip or interpolate them.
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, Mapping):
        raise InputError(path, "a landmark cache must be a JSON object")
    if not (is_int(data.get("version")) and data["version"] == 1):
        raise InputError(path, f"unsupported landmark cache version {data.get('version')!r} (expected 1)")
    size = data.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(is_int(v) and v > 0 for v in size)):
        raise InputError(path, "'size' must be [width, height] in pixels")
    frames = data.get("frames")
    if not isinstance(frames, Mapping):
        raise InputError(path, "'frames' must map frame file names to landmarks or null")
    out: dict[str, np.ndarray | None] = {}
    for name, value in frames.items():
        try:
            out[name] = None if value is None else _points(value, path)
        except InputError as e:
            raise InputError(path, f"frame {name}: {e.problem}") from None
    return out


def write_landmark_frames(
    path: str | Path, frames: Mapping[str, np.ndarray | None], size: tuple[int, int], source: str
) -> None:
    """Write a clip's landmark cache atomically: an interrupted extraction must never leave a torn
    file that the next run would trust. Coordinates keep 1/1000 px, well under detector noise."""
    path = Path(path)
    body: dict[str, list[list[float]] | None] = {}
    for name in sorted(frames):
        points = frames[name]
        if points is None:
            body[name] = None
            continue
        points = np.asarray(points, dtype=np.float64)
        if points.shape != (N_POINTS, 2) or not np.isfinite(points).all():
            raise ValueError(f"frame {name}: landmarks must be finite (68, 2), got shape {points.shape}")
        body[name] = [[round(float(x), 3), round(float(y), 3)] for x, y in points]
    doc = {"version": 1, "source": str(source), "size": [int(size[0]), int(size[1])], "frames": body}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- rendering -----------------------------------------------------------------------------------

SUPERSAMPLE = 4


def _polyline(group: str, points: np.ndarray) -> list[tuple[float, float]]:
    line = [(float(x), float(y)) for x, y in points[GROUPS[group]]]
    return [*line, line[0]] if group in CLOSED else line


def render_sketch(points: np.ndarray, size: tuple[int, int], thickness: float = 1.5) -> np.ndarray:
    """The coloured landmark sketch that conditions the generator: (3, H, W) float32 in [0, 1].

    Each group is a polyline in its own colour (eyes and lips closed), as in the talking-head
    literature (vid2vid, few-shot talking heads). Lines are drawn at 4x and box-filtered down, so
    they are anti-aliased and sub-pixel motion between video frames shows up as a smooth change
    instead of a one-pixel jump. `thickness` is the line width in pixels for a 256-pixel image and
    scales with the shorter side (never thinner than one pixel), so a model sees the same sketch
    at any resolution. `size` is (width, height); points are pixel coordinates, (0, 0) the centre
    of the top-left pixel.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (N_POINTS, 2) or not np.isfinite(points).all():
        raise ValueError(f"render_sketch needs finite (68, 2) landmarks, got shape {points.shape}")
    w, h = int(size[0]), int(size[1])
    width_px = max(1.0, thickness * min(w, h) / 256)
    big = Image.new("RGB", (w * SUPERSAMPLE, h * SUPERSAMPLE))
    draw = ImageDraw.Draw(big)
    scaled = (points + 0.5) * SUPERSAMPLE - 0.5  # pixel centres stay pixel centres
    line_width = max(1, round(width_px * SUPERSAMPLE))
    for group in GROUPS:
        draw.line(_polyline(group, scaled), fill=COLOURS[group], width=line_width, joint="curve")
    small = big.reduce(SUPERSAMPLE)
    return np.asarray(small, dtype=np.float32).transpose(2, 0, 1) / 255.0


# --- geometry ------------------------------------------------------------------------------------


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The (2, 3) similarity transform (scale, rotation, translation) that maps src onto dst in the
    least-squares sense (Umeyama 1991). Reflections are excluded: a mirrored face is a different
    pose, not the same face moved."""
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"similarity needs two equal sets of >= 2 points, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    var = (s0**2).sum() / len(src)
    if var <= 1e-12:
        raise ValueError("similarity is undefined for coincident source points")
    u, sig, vt = np.linalg.svd(d0.T @ s0 / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(sig) @ sign)) / var
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """points (..., 2) mapped by a (2, 3) affine matrix."""
    matrix = np.asarray(matrix)
    return np.asarray(points) @ matrix[:, :2].T + matrix[:, 2]


def _invert(matrix: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear, -linear @ matrix[:, 2:]], axis=1)


def _check_face(points: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-2:] != (N_POINTS, 2) or not np.isfinite(points).all():
        raise ValueError(f"{name} must be finite (68, 2) landmarks, got shape {points.shape}")
    return points


def retarget(driving: np.ndarray, portrait: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """The driving face's head motion and expression, carried out by the portrait's face.

    Why relative motion: driving landmarks carry the driving person's face shape (jaw width, eye
    spacing, nose length). Drawn as they are, the generator would reproduce that shape and the
    portrait would stop looking like its owner. So only *changes* relative to a reference driving
    frame are transferred (first-order-model's "relative" mode), split in two:

    1. Head motion. Each driving frame t is aligned to the reference by the similarity transform
       A_t of the rigid points (eye corners and nose, which hardly move with expression).
       A_t^-1 is the head's rotation, scale and translation since the reference.
    2. Expression. The aligned frame minus the reference, A_t(driving_t) - reference, is what the
       face did (mouth open, brows up, eyes shut) with the head motion removed. It is mapped onto
       the portrait by the linear part of B, the similarity from the reference's rigid points to
       the portrait's: displacements scale with the face-size ratio and turn with the in-plane
       tilt difference, so a mouth that opens 10 px on a face twice the portrait's size opens
       5 px on the portrait, along the portrait's own vertical axis.

    The portrait's expression frame, portrait + B(delta), is then rotated and scaled about the
    portrait's rigid centre by the head's rotation and scale, and shifted by the head's
    translation times the face-size ratio (image axes: both faces share the camera's "up").

    Consequences the tests check: the reference frame gives the portrait back; a purely rigid
    driving motion moves the portrait rigidly; the driving face's own shape never appears.

    `driving` is (68, 2) or (T, 68, 2); `reference` defaults to the first driving frame (a
    neutral, frontal frame works best). Returns float32 of the driving's shape.
    """
    driving = _check_face(driving, "driving")
    portrait = _check_face(portrait, "portrait")
    frames = driving.reshape(-1, N_POINTS, 2)
    ref = frames[0] if reference is None else _check_face(reference, "reference")
    rigid = list(RIGID)
    to_portrait = similarity(ref[rigid], portrait[rigid])
    ratio = math.sqrt(abs(np.linalg.det(to_portrait[:, :2])))
    ref_centre = ref[rigid].mean(axis=0)
    centre = portrait[rigid].mean(axis=0)
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        to_ref = similarity(frame[rigid], ref[rigid])
        expression = (apply(to_ref, frame) - ref) @ to_portrait[:, :2].T
        head = _invert(to_ref)
        shift = apply(head, ref_centre) - ref_centre
        out[t] = (portrait + expression - centre) @ head[:, :2].T + centre + ratio * shift
    return out.reshape(driving.shape).astype(np.float32)


def normalised_mean_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point error over the outer-eye-corner distance (the 300-W "NME"), so errors
    compare across face sizes. For (N, 68, 2) batches, the mean of the per-face NMEs."""
    pred = _check_face(pred, "pred").reshape(-1, N_POINTS, 2)
    truth = _check_face(truth, "truth").reshape(-1, N_POINTS, 2)
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth differ in shape: {pred.shape} vs {truth.shape}")
    a, b = OUTER_EYE_CORNERS
    ocular = np.linalg.norm(truth[:, a] - truth[:, b], axis=-1)
    if (ocular <= 0).any():
        raise ValueError("the outer eye corners coincide: inter-ocular distance is 0")
    errors = np.linalg.norm(pred - truth, axis=-1).mean(axis=-1) / ocular
    return float(errors.mean())
