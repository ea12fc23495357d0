"""Old-film demo clips for temporal mode: grainy, flickering black-and-white frames of a slow pan
over a procedural facade (A) and the clean colour frames of the same pan (B), in the `pairs`
layout with frames named `<clip>_<number>.png`, so consecutive frames are known.

Film grain and exposure flicker change every frame while the scene barely moves: a per-frame
colorizer copies that shimmer into its colours, which is exactly what temporal mode should remove.
`python -m i2i_img2img.film --out film` writes a set; `test/video.mp4` is a held-out clip as a video.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from i2i_img2img.demo import _layout, _render

GRAIN = 14.0  # standard deviation of the per-frame grain, in 0-255 levels
FLICKER = 0.08  # relative exposure change from frame to frame


def film_clip(seed: int, clip: int, frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(grainy gray frames (T,H,W,3), clean colour frames (T,H,W,3)), uint8, of one panning shot."""
    rng = np.random.default_rng((seed, 1000 + clip))
    big = size * 2
    photo = _render(_layout(rng, big), rng).astype(np.float32)
    step = rng.uniform(0.5, 1.5) * (1 if rng.random() < 0.5 else -1)
    start = (
        rng.uniform(0, big - size - abs(step) * frames)
        if step > 0
        else rng.uniform(abs(step) * frames, big - size)
    )
    top = int(rng.integers(0, big - size))
    gray_w = np.array([0.299, 0.587, 0.114], np.float32)
    old, clean = [], []
    for t in range(frames):
        x = round(start + step * t)
        view = photo[top : top + size, x : x + size]
        clean.append(view)
        gray = (view @ gray_w) * (1 + rng.uniform(-FLICKER, FLICKER)) + rng.normal(0, GRAIN, (size, size))
        old.append(np.repeat(gray[..., None], 3, axis=2))
    as_u8 = lambda a: np.clip(np.stack(a), 0, 255).round().astype(np.uint8)  # noqa: E731
    return as_u8(old), as_u8(clean)


def write_film(
    out: Path, n: int | None = None, seed: int = 0, size: int = 64, frames: int = 12
) -> dict[str, int]:
    """`n` clips (default 12; the last quarter held out as test) in out/{train,test}/{A,B}/."""
    out = Path(out)
    n = 12 if n is None else n
    test = max(1, n // 4)
    counts = {"train": n - test, "test": test}
    clip = 0
    for split, count in counts.items():
        for _ in range(count):
            old, clean = film_clip(seed, clip, frames, size)
            for side, images in (("A", old), ("B", clean)):
                folder = out / split / side
                folder.mkdir(parents=True, exist_ok=True)
                for t, image in enumerate(images):
                    Image.fromarray(image).save(folder / f"clip{clip:03d}_{t:04d}.png")
            clip += 1
    import torch

    from i2i.data.video import VideoWriter

    old, _ = film_clip(seed, n - 1, frames, size)
    with VideoWriter(out / "test" / "video.mp4", fps=12) as writer:
        writer.write(torch.from_numpy(old).permute(0, 3, 1, 2).float() / 127.5 - 1)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=None, help="clips")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--frames", type=int, default=12)
    a = p.parse_args()
    print(write_film(Path(a.out), a.n, a.seed, a.size, a.frames))


if __name__ == "__main__":
    main()
