"""Video files in and out with PyAV: frames stream through in small chunks, output appears atomically.

Videos are run frame by frame through image models, so reading must stream (memory bounded by one
chunk, whatever the length of the video) and writing must never leave a half-written file behind
when the run fails or is interrupted halfway: the output is encoded under a temporary name in the
same directory and renamed into place only once the encoder is flushed and the file is closed.
Frames are (B,3,H,W) float32 tensors in [-1, 1], like images (see `i2i.data.images`).

Not handled: rotation metadata of phone videos (frames come out as stored, as most decoders give
them), variable frame rate (the average rate is used), and audio (dropped).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F

from i2i.data.images import DEFAULT_MAX_PIXELS, VIDEO_EXTENSIONS, check_file, check_size, one_line
from i2i.errors import InputError

# Used when a container gives no frame rate at all (raw streams); the usual PAL rate.
DEFAULT_FPS = 25.0
# x264's constant rate factor: 18 is visually lossless, so re-encoding a model's output costs nothing
# anyone can see; VP9's scale is about 13 higher for the same quality.
DEFAULT_CRF = 18

# Preferred encoders per container, best first. WebM only allows VP8/VP9 (and AV1); for the others
# H.264 plays everywhere, and MPEG-4 part 2 is in every FFmpeg build, so it is the fallback.
_CODECS = {".webm": ("libvpx-vp9", "libvpx")}
_DEFAULT_CODECS = ("libx264", "mpeg4")
_FF_QP2LAMBDA = 118  # FFmpeg's scale between quantiser and global_quality.


@dataclass(frozen=True)
class VideoInfo:
    """What a video says about itself: frames is None when the container does not store a count."""

    fps: float
    frames: int | None
    width: int
    height: int


# The demuxers a video is read with, by suffix; the rest of FFmpeg's ~350 are never tried. FFmpeg
# otherwise picks a demuxer by probing the content, whatever the name: an HLS playlist or an
# ffconcat list named clip.mp4 makes it open the files (or URLs) that the playlist names, and
# image2, subtitle and raw-codec demuxers read things that are no video of the user's.
CONTAINERS: dict[str, str] = {
    ".mp4": "mov",
    ".m4v": "mov",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "matroska",
    ".avi": "avi",
}
"""Suffix -> the FFmpeg demuxer tried first. A file whose content is another allowed container
(a WebM named .mp4) is read by that one; no other demuxer is ever used."""
_ALLOWED = frozenset(CONTAINERS.values())
# Frames fewer than this behind the container's own count (or duration) are taken as a cut file.
_TRUNCATION_SLACK = 2  # frames, or 1% of the video if more: edit lists legitimately trim a few


def _av_message(exc: BaseException) -> str:
    """FFmpeg's own words for an error ("Invalid data found when processing input"), without
    PyAV's errno and the name of the C function that returned it."""
    return str(getattr(exc, "strerror", None) or one_line(exc))


@dataclass
class _Input:
    """An open video: the container, its first video stream and the file PyAV reads through."""

    container: Any
    stream: Any
    handle: Any

    def close(self) -> None:
        self.container.close()
        self.handle.close()


def _open_input(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> _Input:
    """The video at `path` opened with an allowed demuxer, its frame size checked; the caller
    closes it. Any failure is an InputError naming the file.

    FFmpeg reads through a Python file object, never a file name: a name is also a URL to FFmpeg
    (`concat:a|b`, `http://...`), a file object only ever the bytes of this file.
    """
    check_file(path, "a video")
    first = CONTAINERS.get(path.suffix.lower())
    order = [first] if first else []
    order += sorted(_ALLOWED - set(order))
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by _Input.close or below
    except OSError as exc:
        raise InputError(path, f"cannot read ({one_line(exc)})") from None
    problem = ""
    for demuxer in order:
        handle.seek(0)
        try:
            container = av.open(handle, mode="r", format=demuxer)
        except Exception as exc:  # av's errors (InvalidDataError...): not this container
            problem = problem or _av_message(exc)
            continue
        if not set(container.format.name.split(",")) & _ALLOWED:  # what FFmpeg says it opened
            container.close()
            continue
        opened = _Input(container, None, handle)
        try:
            if not container.streams.video:
                raise InputError(path, "has no video stream")
            opened.stream = container.streams.video[0]
            context = opened.stream.codec_context
            check_size(path, int(context.width), int(context.height), max_pixels, "video frame")
            # the decoder's own limit too: a stream that changes size midway is held to it as well
            context.options = {"max_pixels": str(max_pixels)}
        except BaseException:
            opened.close()
            raise
        return opened
    handle.close()
    raise InputError(
        path, f"not a readable video (MP4/MOV, Matroska/WebM or AVI): {problem or 'unknown container'}"
    )


def probe_video(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """Frame rate, frame count (None if unknown; MKV/WebM usually do not store it) and frame size.

    Only the headers are read, so this is cheap; a file whose frames are corrupt passes here and
    fails in `iter_video_frames`. Frames over `max_pixels` or `i2i.data.images.MAX_SIDE` are
    refused here, as images are.
    """
    path = Path(path)
    opened = _open_input(path, max_pixels)
    try:
        stream = opened.stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate and float(rate) > 0 else DEFAULT_FPS
        frames = int(stream.frames) if stream.frames and stream.frames > 0 else None
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    finally:
        opened.close()
    return VideoInfo(fps=fps, frames=frames, width=width, height=height)


def _frames_to_tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous()


def iter_video_frames(
    path: str | Path, chunk_size: int = 8, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[torch.Tensor]:
    """Decode a video lazily as (B,3,H,W) chunks in [-1, 1], B = chunk_size except maybe the last.

    Only one chunk of frames is held at a time, so memory does not grow with the video's length.
    A missing file or directory raises `InputError` at once; a file that is not a video, or frames
    that cannot be decoded, raise it when iteration reaches them (chunks before are still given).
    So does a video that ends well before the frame count (or duration) its container declares: a
    cut download, which would otherwise give a shorter result without a word. Every frame is
    scaled to the size of the first, should a stream change size midway.
    """
    return (_frames_to_tensor(chunk) for chunk in iter_video_arrays(path, chunk_size, max_pixels))


def iter_video_arrays(
    path: str | Path, chunk_size: int = 8, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[np.ndarray]:
    """`iter_video_frames` as uint8 (B,H,W,3) RGB arrays: for code that keeps frames (a training
    clip), a quarter of the float tensors' memory and no float copy of the clip at all."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    path = Path(path)
    check_file(path, "a video")
    return _stream_frames(path, chunk_size, max_pixels)


def _stream_frames(path: Path, chunk_size: int, max_pixels: int) -> Iterator[np.ndarray]:
    opened = _open_input(path, max_pixels)
    container, stream = opened.container, opened.stream
    try:
        stream.thread_type = "AUTO"
        decoded = container.decode(stream)
        size: tuple[int, int] | None = None
        batch: list[np.ndarray] = []
        count, last_time = 0, None
        while True:
            # Only the decoder is guarded: an exception thrown into this generator at `yield` must
            # propagate as it is, not be reported as a bad file.
            try:
                frame = next(decoded, None)
                if frame is None:
                    break
                if size is None:
                    size = (frame.width, frame.height)
                batch.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                count, last_time = count + 1, frame.time
            except Exception as exc:
                raise InputError(path, f"cannot decode video ({_av_message(exc)})") from None
            if len(batch) == chunk_size:
                yield np.stack(batch)
                batch = []
        if count == 0:
            raise InputError(path, "has no frame that can be decoded")
        _check_complete(path, container, stream, count, last_time)
        if batch:
            yield np.stack(batch)
    finally:
        opened.close()


def _check_complete(path: Path, container: Any, stream: Any, count: int, last: float | None) -> None:
    """Refuse a video that stops well before its container says it ends (cut in transfer).

    The frame count is compared where the container stores one (MP4, MOV, AVI); otherwise
    (Matroska, WebM) the end of the last frame is compared with the container's duration, but
    only for a file holding nothing but its video stream, as an audio track may outlast it.
    """
    expected = int(stream.frames or 0)
    if expected > 0:
        if count < expected - max(_TRUNCATION_SLACK, expected // 100):
            raise InputError(
                path, f"ends after {count} of its {expected} frames: cut short? (re-encode it to keep them)"
            )
        return
    duration = container.duration  # microseconds, None if unknown
    if not duration or last is None or len(container.streams) != 1:
        return
    rate = stream.average_rate or stream.guessed_rate
    step = 1.0 / float(rate) if rate and float(rate) > 0 else 1.0 / DEFAULT_FPS
    total = duration / 1e6
    if last + step < total - max(_TRUNCATION_SLACK * step, total / 100):
        raise InputError(
            path, f"ends at {last + step:.2f} s of its {total:.2f} s: cut short? (re-encode it to keep them)"
        )


def _available(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


class VideoWriter:
    """Encode (B,3,H,W) [-1, 1] frame chunks into a video file, atomically.

    Use as a context manager: the file appears at `path` only when the block ends without an
    exception; on an exception the temporary file is deleted and any older file at `path` is left
    as it was. The container is chosen by the suffix (.mp4 .m4v .mov .mkv .avi .webm).

    `codec` None picks the container's best available encoder (H.264, else MPEG-4; VP9 for WebM);
    a named codec that this FFmpeg build lacks falls back the same way. Frames are stored as
    yuv420p, which needs even sides: an odd width or height is padded by one row or column that
    repeats the edge (not resized, which would blur every frame), so such a video is one pixel
    larger than its frames. All frames must have the size of the first.
    """

    def __init__(
        self, path: str | Path, fps: float, codec: str | None = None, crf: int = DEFAULT_CRF
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_EXTENSIONS:
            raise InputError(
                self.path, f"not a video suffix; use one of {', '.join(sorted(VIDEO_EXTENSIONS))}"
            )
        fps = float(fps)
        if not fps > 0 or fps == float("inf"):
            raise ValueError(f"fps must be positive and finite, not {fps}")
        # An exact fraction for 29.97 (30000/1001); MPEG-4 refuses time bases above 65535.
        self.rate = Fraction(fps).limit_denominator(1001)
        candidates = ((codec,) if codec else ()) + _CODECS.get(suffix, _DEFAULT_CODECS)
        found = next((c for c in candidates if _available(c)), None)
        if found is None:
            raise InputError(
                self.path, f"no encoder available for this format (tried {', '.join(candidates)})"
            )
        self.codec = found
        self.crf = crf
        self.frames_written = 0
        self._tmp = self.path.with_name(f".{self.path.stem}.{secrets.token_hex(6)}.tmp{self.path.suffix}")
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None  # (height, width) of the frames given
        self._closed = False

    # ---- context manager --------------------------------------------------------------------------
    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # A writer dropped without close() (not used in a `with`) must not leave its temporary file.
        if getattr(self, "_closed", True) is False and getattr(self, "_container", None) is not None:
            self.abort()

    # ---- writing ----------------------------------------------------------------------------------
    def _open(self, height: int, width: int) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            options = (
                {"movflags": "+faststart"} if self.path.suffix.lower() in (".mp4", ".m4v", ".mov") else {}
            )
            self._container = av.open(str(self._tmp), mode="w", options=options)
            codec_options: dict[str, str] = {}
            if self.codec == "libx264":
                codec_options = {"crf": str(self.crf), "preset": "medium"}
            elif self.codec.startswith("libvpx"):
                codec_options = {"crf": str(min(63, self.crf + 13)), "b": "0", "row-mt": "1"}
            stream = self._container.add_stream(self.codec, rate=self.rate, options=codec_options)
            stream.width = width + width % 2
            stream.height = height + height % 2
            stream.pix_fmt = "yuv420p"
            if self.codec == "mpeg4":
                # Constant quantiser 3 (of 1-31): near-transparent, instead of the low default bitrate.
                stream.codec_context.qscale = True
                stream.codec_context.global_quality = 3 * _FF_QP2LAMBDA
            self._stream = stream
        except Exception as exc:
            self.abort()
            raise InputError(self.path, f"cannot write video ({one_line(exc)})") from None
        self._size = (height, width)

    def write(self, frames: torch.Tensor) -> None:
        """Append frames: a (B,3,H,W) or (3,H,W) tensor in [-1, 1] (clamped, rounded to 8 bits)."""
        if self._closed:
            raise ValueError("write to a closed VideoWriter")
        if frames.ndim == 3:
            frames = frames.unsqueeze(0)
        if frames.ndim != 4 or frames.shape[1] not in (1, 3):
            raise ValueError(f"expected (B,3,H,W) frames, got {tuple(frames.shape)}")
        height, width = int(frames.shape[2]), int(frames.shape[3])
        if self._size is None:
            self._open(height, width)
        elif self._size != (height, width):
            raise ValueError(f"frame size changed from {self._size} to {(height, width)} (H, W)")
        t = torch.nan_to_num(frames.detach().to("cpu", torch.float32), nan=0.0).clamp(-1.0, 1.0)
        t = t.expand(-1, 3, -1, -1)
        if height % 2 or width % 2:
            t = F.pad(t, (0, width % 2, 0, height % 2), mode="replicate")
        arrays = t.add(1.0).mul(127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        try:
            for array in arrays:
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                frame.pts = self.frames_written
                self._container.mux(self._stream.encode(frame))
                self.frames_written += 1
        except Exception as exc:
            self.abort()
            raise InputError(self.path, f"cannot write video ({one_line(exc)})") from None

    def close(self) -> Path:
        """Flush the encoder and move the finished file to `path`; returns `path`."""
        if self._closed:
            return self.path
        if self.frames_written == 0:
            self.abort()
            raise InputError(self.path, "no frames to write")
        try:
            self._container.mux(self._stream.encode(None))
            self._container.close()
            self._container = None
            self._tmp.replace(self.path)
        except Exception as exc:
            self.abort()
            raise InputError(self.path, f"cannot write video ({one_line(exc)})") from None
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Stop without producing a file: the temporary file is removed, `path` is untouched."""
        self._closed = True
        if self._container is not None:
            # The file is being thrown away: a failing flush changes nothing.
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self._tmp.unlink(missing_ok=True)
