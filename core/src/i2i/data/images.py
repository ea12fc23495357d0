"""Image files in and out: decoding that never crashes on bad input, tensors, atomic saving.

Every image that enters the core goes through `read_image`, so this is the one place that decides
how odd files become the 8-bit RGB (or L) images the networks are trained on, and the one place
where a bad file turns into an `InputError` naming it instead of a traceback deep in a worker.
Tensors are (C,H,W) float32 in [-1, 1], the range of the generators' tanh output.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from i2i.errors import InputError

# 8192 x 8192. Large enough for any photo a GAN is trained or run on, small enough that a hostile or
# broken header cannot make a worker allocate gigabytes before it fails.
DEFAULT_MAX_PIXELS = 1 << 26
# Each side at most twice the square cap's: a 16384 x 4096 panorama passes, a 1 x 67,108,864 strip
# (within the pixel count) does not. Generators pad each side up to their size multiple (at most a
# few hundred pixels), so the padded image of any accepted file stays near the pixel cap instead
# of growing with the length of its longer side (that strip padded to 256 rows: 17 gigapixels).
MAX_SIDE = 16384

# What `read_image` decodes: the formats of IMAGE_EXTENSIONS (MPO, a phone camera's JPEG, opens
# through JPEG), whatever the file's suffix. Pillow would otherwise identify forty more by their
# content, among them EPS (rendered by running Ghostscript) and PSD, FITS, PCD..., rarely used
# decoders with a history of bugs; a file named .png must not reach any of them.
IMAGE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")

# Suffixes are lower-case with the dot, as `Path.suffix.lower()` returns them.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
_NOT_ALLOWED = "not an image in a format i2i reads (PNG, JPEG, BMP, TIFF, WebP or GIF)"
# GIF is deliberately not a video: writing one needs a palette per frame, and animated GIFs are rare
# as model input. `read_image` still reads a .gif given explicitly (its first frame).
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})

ImageMode = Literal["RGB", "L", "raw"]

# Modes PIL uses for one channel of more than 8 bits: 16-bit PNG/TIFF open as I;16*, older files as I.
_WIDE_GRAY = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
# Modes with an alpha channel, or a palette that may carry transparency.
_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255, 255)


def one_line(exc: BaseException) -> str:
    """An exception's message folded onto one line (its type name if it has none): how a library's
    multi-line error is quoted in an `InputError`, which the command line prints as one line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def check_file(path: Path, what: str) -> None:
    """Refuse a missing, empty, unreadable path or a directory before any decoder sees it, so the
    user reads "no such file" rather than a decoder's guess."""
    try:
        if path.is_dir():
            raise InputError(path, f"is a directory, not {what} file")
        if path.stat().st_size == 0:
            raise InputError(path, "empty file")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({one_line(exc)})") from None
    except ValueError:  # a NUL byte in the name, read from a data set's list of files
        raise InputError(path, "not a usable file name") from None


def is_video(path: str | Path) -> bool:
    """Whether the file name says video; the content is checked only when it is opened."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


_DIGITS = re.compile(r"([0-9]+)")


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key putting numbered names in number order: `clip_99999` before `clip_100000`.

    Frames are numbered with a fixed width (`clip_00001.png`) that a long video outgrows, and
    plain string order then puts frame 100000 between 10000 and 10001, which breaks every
    frame-to-frame pairing. Runs of digits compare by value (length of the run without leading
    zeros, then the digits: no int conversion, so any run length is cheap), the rest as text; the
    whole name breaks ties (`a01` and `a1`), so the order is total and the same on every machine.
    """
    parts: list[object] = []
    for i, part in enumerate(_DIGITS.split(name)):
        if i % 2:
            value = part.lstrip("0")
            parts.append((len(value), value))
        else:
            parts.append(part)
    return (tuple(parts), name)


def path_key(path: Path, root: Path | None = None) -> tuple[object, ...]:
    """`natural_key` of each part of `path` (relative to `root` if given): folders, then files."""
    parts = path.relative_to(root).parts if root is not None else (path.name,)
    return tuple(natural_key(part) for part in parts)


def list_images(directory: str | Path, recursive: bool = False) -> list[Path]:
    """The image files inside `directory`, in `natural_key` order of their names (of their relative
    paths when `recursive`): `f_9.png` before `f_10.png`.

    Only the directory itself unless `recursive`, which also walks its sub-directories (a photo
    collection sorted into albums). Hidden files and directories are skipped: `._x.png` files left
    by macOS on shared drives have an image suffix but are not images and would otherwise fail a
    whole batch run, and `.cache/`-style folders hold thumbnails, not data. The order is stable
    across file systems, so index i names the same file on every machine (exact resume).
    Raises `InputError` when `directory` is missing or not a directory.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "not a directory" if directory.exists() else "no such directory")
    if not recursive:
        return sorted((p for p in directory.iterdir() if _is_image_file(p)), key=path_key)
    found: list[Path] = []
    for folder, subdirs, files in os.walk(directory):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        found.extend(p for p in (Path(folder, f) for f in files) if _is_image_file(p))
    return sorted(found, key=lambda p: path_key(p, directory))


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def _wide_to_8bit(img: Image.Image) -> Image.Image:
    """One channel of 16 or 32 bits -> L, by scaling (not clipping) so 65535 -> 255.

    PIL's own convert("L") clips I;16 values above 255 to white, which turns every 16-bit depth map
    or scan into a blown-out image. Mode I is taken to hold 16-bit values (PIL opens 16-bit PNGs of
    older writers as I); F (float TIFF) is taken to be in [0, 1].
    """
    if img.mode == "F":
        values = np.asarray(img, dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
        out = np.rint(np.clip(values, 0.0, 1.0) * 255.0)
    else:
        values = np.asarray(img).astype(np.int64)
        out = np.rint(np.clip(values, 0, 65535) * (255.0 / 65535.0))
    return Image.fromarray(out.astype(np.uint8))


def _normalize(img: Image.Image, mode: ImageMode) -> Image.Image:
    """Any PIL mode -> `mode` (RGB or L), always a new image independent of any file.

    Transparency is composited on white rather than dropped: fully transparent pixels often hold
    leftover colours (or black), and dropping alpha would show them; white is also how viewers and
    browsers show drawings and sketches, the usual transparent inputs.
    """
    if img.mode in _WIDE_GRAY or img.mode == "F":
        img = _wide_to_8bit(img)
    elif img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in _ALPHA:
        rgba = img.convert("LA").convert("RGBA") if img.mode == "La" else img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba)
    if img.mode != mode:
        # CMYK, YCbCr, HSV, LAB, P, 1: PIL's conversions (CMYK without colour management).
        img = img.convert(mode)
    else:
        img = img.copy()
    return img


def read_image(
    path: str | Path, mode: ImageMode = "RGB", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode an image file fully into an 8-bit `mode` image ("RGB" or "L"), upright.

    `mode="raw"` keeps the file's own mode (palette indices, 16-bit values, RGB colours): label
    maps must not be converted, since a palette index or an id above 255 is the class itself.

    - EXIF orientation is applied, so phone photos are not sideways.
    - 16-bit grey is scaled to 8 bits (65535 -> 255); 16-bit RGB(A) is reduced to 8 bits by PIL.
    - Alpha is composited on white; palettes, CMYK, 1-bit etc. are converted.
    - Only `IMAGE_FORMATS` are decoded, identified by content whatever the suffix (a JPEG named
      .png is common in downloaded sets and is read; an EPS or PSD named .png is refused).
    - The size (`check_size`: each side, the pixel count) is checked from the header before any
      pixel is decoded, and the whole image is decoded here, so a truncated or corrupt file fails
      now with `InputError` naming it, not later inside a DataLoader worker. Multi-frame files
      (GIF, TIFF) give their first frame.

    Raises `InputError(path, problem)` for any file that cannot be read as an image.
    """
    if mode not in ("RGB", "L", "raw"):
        raise ValueError(f"mode must be 'RGB', 'L' or 'raw', not {mode!r}")
    path = Path(path)
    check_file(path, "an image")
    with _opened(path, max_pixels, "corrupt or truncated image") as opened:
        opened.load()
        if mode == "raw":
            return _upright(opened).copy()
        return _normalize(_upright(opened), mode)


@contextlib.contextmanager
def _opened(path: Path, max_pixels: int, corrupt: str) -> Iterator[Image.Image]:
    """An image file opened as one of `IMAGE_FORMATS`, its size checked from the header; every
    failure inside the block, decoding included, becomes one `InputError` naming the file.

    Decoders report corrupt data with whatever exception they like (OSError for truncation,
    ValueError, SyntaxError, struct.error, IndexError, MemoryError...): all mean a bad file,
    reported as `corrupt (...)`."""
    try:
        with warnings.catch_warnings():
            # Our own limit (check_size) replaces PIL's warning; PIL's hard error is still caught.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as opened:
                check_size(path, *opened.size, max_pixels)
                yield opened
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except UnidentifiedImageError:
        raise InputError(path, _NOT_ALLOWED) from None
    except Image.DecompressionBombError as exc:
        raise InputError(path, f"image too large ({one_line(exc)})") from None
    except Exception as exc:
        raise InputError(path, f"{corrupt} ({one_line(exc)})") from None


def check_size(
    path: str | Path, width: int, height: int, max_pixels: int = DEFAULT_MAX_PIXELS, what: str = "image"
) -> None:
    """Refuse a frame size before any pixel is decoded: no pixels, a side over `MAX_SIDE`, or more
    than `max_pixels` in all. Images (`read_image`, `probe_image`) and video frames
    (`i2i.data.video`) share it, so one limit holds whatever the container."""
    if width <= 0 or height <= 0:
        raise InputError(path, f"{what} has no pixels ({width}x{height})")
    if max(width, height) > MAX_SIDE:
        raise InputError(
            path, f"{what} is {width}x{height}: a side is longer than the limit of {MAX_SIDE} pixels"
        )
    if width * height > max_pixels:
        size = f"{width * height / 1e6:.0f} megapixels" if max_pixels >= 10**6 else f"{width * height} pixels"
        limit = f"{max_pixels / 1e6:.0f} megapixels" if max_pixels >= 10**6 else f"{max_pixels} pixels"
        raise InputError(path, f"{what} is {width}x{height} ({size}), more than the limit of {limit}")


def probe_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int, str]:
    """Check an image file from its header alone: (width, height, mode) as stored, no pixel decoded.

    Fast enough to check thousands of files before the first is generated (a folder run validates
    every file this way, then decodes one batch at a time). Raises `InputError` as `read_image`
    does for a missing, empty, unidentifiable or oversized file; a file whose header is sound but
    whose pixel data is truncated or corrupt passes here and fails in `read_image`.
    """
    path = Path(path)
    check_file(path, "an image")
    with _opened(path, max_pixels, "corrupt image header") as opened:
        return opened.size[0], opened.size[1], opened.mode


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a malformed EXIF block is ignored rather than failing the image."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        return img


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """An image -> (C,H,W) float32 in [-1, 1]; C is 1 for single-channel images, else 3.

    The map v -> v / 127.5 - 1 is exactly inverted by `tensor_to_image` for every 8-bit value.
    Images not in RGB or L (e.g. made directly with PIL) are normalised as `read_image` would.
    """
    if img.mode not in ("RGB", "L"):
        single = img.mode in _WIDE_GRAY or img.mode in {"F", "1", "LA", "La"}
        img = _normalize(img, "L" if single else "RGB")
    array = np.array(img, dtype=np.uint8)
    tensor = torch.from_numpy(array)
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return tensor.float().div_(127.5).sub_(1.0).contiguous()


INDEX_MODES = frozenset({"L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N", "1"})  # value = id, not colour


def label_to_tensor(img: Image.Image) -> torch.Tensor:
    """A label map as stored -> int64 (1,H,W) of ids, or (3,H,W) of 0-255 colours for colour maps.

    Index maps (L, P palette indices, 16/32-bit I) keep their values: a palette PNG's index is the
    class (CMP facades, Pascal VOC), an id above 255 is an id. Anything else is read as RGB colours
    (alpha dropped), to be matched against the class colours by the plugin.
    """
    if img.mode in INDEX_MODES:
        array = np.array(img, dtype=np.int64)
        return torch.from_numpy(array).unsqueeze(0)
    rgb = (
        img
        if img.mode == "RGB"
        else img.convert("RGBA").convert("RGB")
        if "A" in img.mode
        else img.convert("RGB")
    )
    return torch.from_numpy(np.array(rgb, dtype=np.int64)).permute(2, 0, 1).contiguous()


def read_labels(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """A label-map file -> `label_to_tensor` of it; unreadable files raise InputError naming them."""
    return label_to_tensor(read_image(path, "raw", max_pixels))


_BAND_PIXELS = 1 << 20  # pixels per band converted at once by `tensor_to_image`


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """A (C,H,W) or (1,C,H,W) tensor in [-1, 1] with C of 1 or 3 -> an L or RGB image.

    Values are clamped (generators overshoot slightly) and rounded to the nearest level, not
    truncated, so that image -> tensor -> image is exact. NaN becomes mid-grey rather than garbage.
    """
    t = tensor.detach()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ValueError(
            f"expected a (C,H,W) or (1,C,H,W) tensor with 1 or 3 channels, got {tuple(tensor.shape)}"
        )
    channels, height, width = t.shape
    array = np.empty((height, width, channels), dtype=np.uint8)
    # a band of rows at a time: a 4K or 8K output never needs a second float copy of itself
    step = max(1, _BAND_PIXELS // max(1, width))
    for top in range(0, height, step):
        band = torch.nan_to_num(t[:, top : top + step].to("cpu", torch.float32), nan=0.0)
        band = band.clamp_(-1.0, 1.0).add_(1.0).mul_(127.5).round_().to(torch.uint8)
        array[top : top + step] = band.permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array[:, :, 0]) if channels == 1 else array)


def _format_for(path: Path) -> str:
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        known = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise InputError(path, f"cannot tell the image format from the suffix; use one of {known}")
    return fmt


def save_image(image: torch.Tensor | Image.Image, path: str | Path, quality: int = 95) -> Path:
    """Write an image (or a tensor as `tensor_to_image` takes it) atomically; returns the path.

    The format comes from the suffix. The file is written under a temporary name in the same
    directory and renamed over `path`, so a reader (or a re-run after a crash) never sees a partial
    file, and a failed write leaves any previous file untouched. Parent directories are created.
    Lossy formats (JPEG, WebP) use `quality`, higher than PIL's default 75: these are results.
    Raises `InputError` when the suffix is unknown or the file cannot be written.
    """
    path = Path(path)
    fmt = _format_for(path)
    img = tensor_to_image(image) if isinstance(image, torch.Tensor) else image
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(path, f"cannot create the directory ({one_line(exc)})") from None
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        # os.open with 0o666 lets the umask decide the permissions, as for any ordinary file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            img.save(handle, format=fmt, **options)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(path, f"cannot write ({one_line(exc)})") from None
        raise
    return path


def make_grid_image(
    tensors: torch.Tensor | Sequence[torch.Tensor], padding: int = 2, pad_value: float = 1.0
) -> Image.Image:
    """A sample sheet: item i of every (B,C,H,W) tensor makes row i, the tensors its columns.

    So `make_grid_image([inputs, outputs, targets])` shows one sample per row, and a single tensor
    whose items are already side-by-side panels shows one panel strip per row. Tensors may differ in
    batch size (missing cells stay blank), in size (each column is as wide as its widest image, each
    row as high as its highest) and in channels (1-channel images are shown grey). Values in [-1, 1]
    are clamped; `pad_value` (in [-1, 1], default white) fills gaps and borders.
    """
    columns = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
    if not columns:
        raise ValueError("make_grid_image needs at least one tensor")
    for t in columns:
        if t.ndim != 4 or t.shape[1] not in (1, 3):
            raise ValueError(f"expected (B,C,H,W) tensors with 1 or 3 channels, got {tuple(t.shape)}")
    rows = max(t.shape[0] for t in columns)
    widths = [t.shape[3] for t in columns]
    heights = [max((t.shape[2] for t in columns if t.shape[0] > i), default=0) for i in range(rows)]
    canvas = torch.full(
        (3, padding + sum(h + padding for h in heights), padding + sum(w + padding for w in widths)),
        float(pad_value),
    )
    x = padding
    for t, w in zip(columns, widths):
        t = t.detach().to("cpu", torch.float32)
        y = padding
        for i in range(rows):
            if i < t.shape[0]:
                cell = t[i].expand(3, -1, -1)
                canvas[:, y : y + cell.shape[1], x : x + cell.shape[2]] = cell
            y += heights[i] + padding
        x += w + padding
    return tensor_to_image(canvas)
