"""Sample sheet of a colorization model on held-out photos (docs/models/img2img-colorize-samples.png).

Rows: the held-out photos of the corpus (short side resized to --size, centre square). Columns:
gray input | mean-ab tint (the simplest baseline) | the model | the real photo. The model sees
only the lightness, as every user of it will.

Usage: python plugins/img2img/scripts/colorize_sheet.py CHECKPOINT CORPUS OUT.png [--size 160]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from i2i.data.images import image_to_tensor
from i2i.metrics.paired import to_uint8
from i2i.pipeline import load_pipeline
from i2i_img2img.color_metrics import tinted


def square(path: Path, size: int) -> Image.Image:
    """The photo with its short side at `size`, centre-cropped to a square."""
    photo = Image.open(path).convert("RGB")
    w, h = photo.size
    k = size / min(w, h)
    photo = photo.resize((max(size, round(w * k)), max(size, round(h * k))), Image.Resampling.LANCZOS)
    w, h = photo.size
    return photo.crop(((w - size) // 2, (h - size) // 2, (w + size) // 2, (h + size) // 2))


def sheet(checkpoint: str, corpus: Path, out: Path, size: int, tint: tuple[float, float]) -> None:
    pipe = load_pipeline(checkpoint, device="cpu")
    rows = []
    for path in sorted((corpus / "test").glob("*.png")):
        target = image_to_tensor(square(path, size))
        batch = {
            k: v[None]
            for k, v in pipe.prepare({"input": image_to_tensor(square(path, size).convert("L"))}).items()
        }
        with torch.no_grad():
            colour = pipe.generate(batch, seed=0)[0]
        cells = [tinted(target, (0.0, 0.0)), tinted(target, tint), colour, target]
        rows.append(torch.cat(cells, dim=2))
    Image.fromarray(to_uint8(torch.cat(rows, dim=1))).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint")
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument(
        "--tint", type=float, nargs=2, default=(0.0, 0.0), help="mean ab of the training photos"
    )
    args = parser.parse_args(argv)
    sheet(args.checkpoint, args.corpus, args.out, args.size, tuple(args.tint))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
