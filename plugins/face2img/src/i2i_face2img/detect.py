"""Landmark and identity backends: dlib (CPU, small, always available with the dlib extra) and
face-alignment (FAN; more accurate on profiles and low light, but needs torch weights).

The heavy packages are imported inside functions so that reading landmark files, rendering
sketches and training from cached landmarks never need them installed.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from i2i.errors import ConfigError

SAME_PERSON = 0.6  # dlib's threshold on face_distance: below it, the same person (99.38% on LFW)
DLIB_MISSING = (
    "landmark detection needs the dlib extra: pip install 'i2i-face2img[dlib]' (or give landmarks as JSON)"
)
SHAPE_68 = "shape_predictor_68_face_landmarks.dat"
RECOGNITION = "dlib_face_recognition_resnet_model_v1.dat"
# The HOG detector misses faces under ~80 px; upsampling once finds them at 4x the cost, which is
# affordable (~0.1 s) only on images up to this long side.
UPSAMPLE_BELOW = 1024
BACKENDS = ("auto", "dlib", "face-alignment")


class WeightsMissing(ConfigError):
    """face-alignment's weights are not in the torch hub cache. Raised instead of letting the
    package download ~100 MB mid-run (or hang on a machine without network)."""


class LandmarkBackend(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None: ...


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _rgb(image: np.ndarray) -> np.ndarray:
    """Both backends want contiguous (H, W, 3) uint8; a flipped view or a grey image is common input."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image[..., :3])


def _largest(faces: list[np.ndarray]) -> np.ndarray | None:
    """The face to animate is the biggest one: background faces are small."""
    if not faces:
        return None
    return max(faces, key=lambda p: float(np.ptp(p[:, 0]) * np.ptp(p[:, 1])))


# --- dlib ----------------------------------------------------------------------------------------


def dlib_models_dir() -> Path | None:
    """Where face_recognition_models keeps dlib's model files, or None if it is not installed.

    Found without importing the package: its __init__ imports pkg_resources, which recent
    setuptools no longer ships.
    """
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return models if (models / SHAPE_68).is_file() else None


def _dlib_available() -> bool:
    return importlib.util.find_spec("dlib") is not None and dlib_models_dir() is not None


class DlibLandmarks:
    """HOG face detector + the 68-point shape predictor (iBUG 300-W), and dlib's ResNet face
    descriptor for identity checks. ~0.03 s per 512 px image on one CPU core."""

    name = "dlib"

    def __init__(self, models_dir: str | Path | None = None) -> None:
        try:
            import dlib
        except ImportError:
            raise ConfigError(DLIB_MISSING) from None
        models = Path(models_dir) if models_dir is not None else dlib_models_dir()
        if models is None or not (models / SHAPE_68).is_file():
            raise ConfigError(DLIB_MISSING)
        self._dlib = dlib
        self._models = models
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(models / SHAPE_68))
        self._encoder: Any = None  # the 22 MB ResNet loads on the first descriptor() call

    def _rectangles(self, rgb: np.ndarray) -> list[Any]:
        rects = list(self._detector(rgb, 0))
        if not rects and max(rgb.shape[:2]) < UPSAMPLE_BELOW:
            rects = list(self._detector(rgb, 1))
        return rects

    def _shape(self, rgb: np.ndarray) -> Any | None:
        rects = self._rectangles(rgb)
        if not rects:
            return None
        return self._predictor(rgb, max(rects, key=lambda r: r.area()))

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """(68, 2) float32 landmarks of the largest face, or None when there is no face."""
        shape = self._shape(_rgb(rgb))
        if shape is None:
            return None
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def in_box(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """(68, 2) landmarks predicted inside a known face box (x0, y0, x1, y1), skipping detection:
        for faces the HOG detector misses (drawn faces, small or odd ones) whose place is known."""
        rect = self._dlib.rectangle(*(int(np.rint(v)) for v in box))
        shape = self._predictor(_rgb(rgb), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def _full_object(self, points: np.ndarray) -> Any:
        points = np.asarray(points, dtype=np.float64)
        if points.shape != (68, 2) or not np.isfinite(points).all():
            raise ValueError(f"descriptor needs finite (68, 2) landmarks, got shape {points.shape}")
        dlib = self._dlib
        (x0, y0), (x1, y1) = np.floor(points.min(axis=0)), np.ceil(points.max(axis=0))
        rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        parts = dlib.points([dlib.point(round(x), round(y)) for x, y in points.tolist()])
        return dlib.full_object_detection(rect, parts)

    def descriptor(self, rgb: np.ndarray, points: np.ndarray | None = None) -> np.ndarray | None:
        """The 128-d identity descriptor of the face at `points` (detected when not given; None if
        no face). Taking given landmarks lets a generated frame be scored at the landmarks that
        drove it, even when the detector would miss or misplace that face."""
        rgb = _rgb(rgb)
        if points is None:
            shape = self._shape(rgb)
            if shape is None:
                return None
        else:
            shape = self._full_object(points)
        if self._encoder is None:
            self._encoder = self._dlib.face_recognition_model_v1(str(self._models / RECOGNITION))
        return np.array(self._encoder.compute_face_descriptor(rgb, shape), dtype=np.float32)


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two dlib descriptors; below SAME_PERSON means the same person."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != (128,) or b.shape != (128,):
        raise ValueError(f"face descriptors are (128,), got {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b))


# --- face-alignment ------------------------------------------------------------------------------

# The weight files as the package names them: 1.3 '2DFAN4-cd938726ad.zip', 1.4 '2DFAN4_1.6-….zip'
# (one per torch version), 1.5 '2DFAN4-11f355bf06.pth.tar'; the detector 's3fd-619a316812.pth'.
_WEIGHT_URL = re.compile(r"https?://[^'\"\s]+/((?:2DFAN4|s3fd)[^/'\"\s]*)")
_SOURCES = ("api.py", "detection/sfd/sfd_detector.py")


def _face_alignment_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("face_alignment")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _weight_names(package: Path) -> dict[str, list[str]]:
    """{'2DFAN4': [...], 's3fd': [...]} read from the package's source text rather than by
    importing it (which pulls in torch, cv2 and numba just to answer "is it usable?")."""
    names: dict[str, list[str]] = {"2DFAN4": [], "s3fd": []}
    for source in _SOURCES:
        try:
            text = (package / source).read_text(encoding="utf-8")
        except OSError:
            continue
        for name in _WEIGHT_URL.findall(text):
            names["2DFAN4" if name.startswith("2DFAN4") else "s3fd"].append(name)
    return names


def _hub_checkpoints() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def face_alignment_unavailable() -> str | None:
    """Why face-alignment cannot run offline right now (one line), or None if it can.

    A weight counts as cached when any file the installed version would download is present
    (1.4 names one per torch version); if the source names none (an unknown future layout), any
    '2DFAN4*' / 's3fd*' file in the cache counts.
    """
    package = _face_alignment_dir()
    if package is None:
        return "face-alignment not installed"
    checkpoints = _hub_checkpoints()
    missing = []
    for key, names in _weight_names(package).items():
        found = any((checkpoints / n).is_file() for n in names) if names else any(checkpoints.glob(f"{key}*"))
        if not found:
            missing.append(names[0] if names else f"{key}*")
    if missing:
        return f"face-alignment weights not cached ({', '.join(missing)} in {checkpoints})"
    return None


class FaceAlignmentLandmarks:
    """FAN 2-D landmarks with the S3FD detector, on CPU unless told otherwise. Construction never
    downloads: missing weights raise WeightsMissing."""

    name = "face-alignment"

    def __init__(self, device: str = "cpu") -> None:
        reason = face_alignment_unavailable()
        if reason is not None:
            if reason.startswith("face-alignment not installed"):
                raise ConfigError(f"{reason}: pip install 'i2i-face2img[face-alignment]'")
            raise WeightsMissing(
                f"{reason}; run face_alignment.FaceAlignment once with network access, or use dlib"
            )
        import face_alignment

        kind = getattr(face_alignment.LandmarksType, "TWO_D", None)
        if kind is None:  # before 1.4 the member was called _2D
            kind = face_alignment.LandmarksType._2D
        kwargs: dict[str, Any] = {"device": device, "face_detector": "sfd"}
        if "compile" in inspect.signature(face_alignment.FaceAlignment.__init__).parameters:
            kwargs["compile"] = False  # 1.5 compiles by default: minutes of start-up on a CPU
        self._fa = face_alignment.FaceAlignment(kind, **kwargs)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """(68, 2) float32 landmarks of the largest face, or None when there is no face."""
        faces = self._fa.get_landmarks_from_image(_rgb(rgb))
        face = _largest([np.asarray(f, dtype=np.float32)[:, :2] for f in faces or []])
        return None if face is None else face.astype(np.float32)


# --- selection -----------------------------------------------------------------------------------


def landmark_backend(name: str = "auto", notice: Callable[[str], None] = _stderr) -> LandmarkBackend:
    """The landmark detector to use. "auto" prefers face-alignment when it can run offline and
    otherwise falls back to dlib, saying why in one line so a worse-than-expected result is
    explained; an explicitly named backend that cannot run is an error, not a silent switch."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown landmark backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name == "face-alignment":
        return FaceAlignmentLandmarks()
    if name == "auto":
        reason = face_alignment_unavailable()
        if reason is None:
            try:
                return FaceAlignmentLandmarks()
            except ImportError as e:  # installed but broken (e.g. a cv2 / numba mismatch)
                reason = f"face-alignment cannot be imported ({e})".replace("\n", " ")
        if not _dlib_available():
            raise ConfigError(DLIB_MISSING)
        notice(f"{reason}; using dlib")
        return DlibLandmarks()
    if not _dlib_available():
        raise ConfigError(DLIB_MISSING)
    return DlibLandmarks()
