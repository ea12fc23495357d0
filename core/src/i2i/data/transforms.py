"""Paired geometry: one random resize/crop/flip applied identically to every image of a sample.

A conditional GAN learns a pixel-to-pixel correspondence, so the input, the target and any label map
of a sample must be cropped and flipped together; independent torchvision transforms would each
draw their own crop and silently teach the model misaligned pairs. Randomness comes only from the
`random.Random` passed in (the data stream derives one per sample), so augmentation is reproducible
and resumable; without one the geometry is deterministic (centre crop, no flip) for evaluation.

Images may differ in size by an integer factor (super-resolution pairs: a low-resolution input is
1/4 of its target). The geometry is drawn on the largest image, aligned to the factor, and scaled
down for the others, so each low-resolution pixel still covers exactly the same target pixels.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from PIL import Image

ResizeMode = Literal["resize_and_crop", "crop", "short_side", "none"]
RESIZE_MODES: tuple[str, ...] = ("resize_and_crop", "crop", "short_side", "none")


@dataclass(frozen=True)
class Geometry:
    """One draw of the geometry, in pixels of the largest image.

    `source` is the part of the original kept before anything else (all of it unless a larger image
    is not an exact multiple of a smaller one), `size` the (width, height) it is resized to, `box`
    the (left, top, right, bottom) crop of the resized image, and `flip` a horizontal mirror.
    """

    source: tuple[int, int]
    size: tuple[int, int]
    box: tuple[int, int, int, int]
    flip: bool


def _factor(name: str, size: tuple[int, int], ref_name: str, ref: tuple[int, int]) -> int:
    """The integer s with size == ref // s (rounding down, as downscalers do), or ValueError."""
    (w, h), (big_w, big_h) = size, ref
    s = big_w // w if w > 0 else 0
    if s < 1 or big_h // s != h or big_w // s != w:
        raise ValueError(
            f"image {name!r} is {w}x{h} and {ref_name!r} is {big_w}x{big_h}: images of one sample "
            "must have the same size or sizes that are integer multiples of each other"
        )
    return s


def _ceil_to(value: float, unit: int) -> int:
    return math.ceil(value / unit - 1e-9) * unit


class PairedTransform:
    """Resize, crop and flip several images of one sample with a single random draw.

    - resize_and_crop (pix2pix): resize to load_size x load_size (aspect ignored, as pix2pix does),
      then crop crop_size x crop_size.
    - crop: crop crop_size x crop_size from the image as it is; an image smaller than the crop is
      first enlarged (aspect kept) so its short side fits, rather than failing a run midway.
    - short_side (AttnGAN, torchvision's `Resize(int)` + `RandomCrop`): resize, aspect kept, so the
      short side is load_size (never below crop_size), then crop crop_size x crop_size: photos of
      any shape keep their proportions.
    - none: keep the size; only the flip applies. The networks must accept that size.

    With an rng the crop position is uniform and the flip a fair coin (when `flip`); with None the
    crop is centred and nothing is flipped. pix2pix's default is
    `PairedTransform(load_size=286, crop_size=256, flip=True)`.
    """

    def __init__(
        self, load_size: int, crop_size: int, flip: bool = True, resize_mode: ResizeMode = "resize_and_crop"
    ) -> None:
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {', '.join(RESIZE_MODES)}, not {resize_mode!r}")
        if resize_mode != "none" and crop_size < 1:
            raise ValueError(f"crop_size must be positive, not {crop_size}")
        if resize_mode in ("resize_and_crop", "short_side") and not 0 < crop_size <= load_size:
            raise ValueError(f"crop_size ({crop_size}) must be at most load_size ({load_size})")
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = flip
        self.resize_mode = resize_mode

    def __repr__(self) -> str:
        return (
            f"PairedTransform(load_size={self.load_size}, crop_size={self.crop_size}, "
            f"flip={self.flip}, resize_mode={self.resize_mode!r})"
        )

    def sample(self, size: tuple[int, int], rng: random.Random | None, align: int = 1) -> Geometry:
        """Draw the geometry for an image of `size` (width, height).

        Every coordinate and size in the result is a multiple of `align`, so the geometry divides
        exactly by any factor that divides `align` (the sizes of the smaller images of a sample).
        """
        width, height = size
        source = (width - width % align, height - height % align)
        if source[0] < 1 or source[1] < 1:
            raise ValueError(f"image of {width}x{height} is smaller than the size factor {align}")
        crop = self.crop_size
        if self.resize_mode != "none" and crop % align:
            raise ValueError(f"crop_size {crop} must be a multiple of the size factor {align}")
        if self.resize_mode == "resize_and_crop":
            if self.load_size % align:
                raise ValueError(f"load_size {self.load_size} must be a multiple of the size factor {align}")
            resized = (self.load_size, self.load_size)
        elif self.resize_mode == "crop" and min(source) < crop:
            k = crop / min(source)
            resized = (_ceil_to(source[0] * k, align), _ceil_to(source[1] * k, align))
        elif self.resize_mode == "short_side":
            k = self.load_size / min(source)
            resized = (
                max(crop, round(source[0] * k / align) * align),
                max(crop, round(source[1] * k / align) * align),
            )
        else:
            resized = source
        if self.resize_mode == "none":
            box = (0, 0, resized[0], resized[1])
        else:
            # Positions in units of `align`; centre (rounded down) when there is no rng.
            free_x, free_y = (resized[0] - crop) // align, (resized[1] - crop) // align
            if rng is None:
                x, y = free_x // 2, free_y // 2
            else:
                x, y = rng.randint(0, free_x), rng.randint(0, free_y)
            box = (x * align, y * align, x * align + crop, y * align + crop)
        flip = self.flip and rng is not None and rng.random() < 0.5
        return Geometry(source=source, size=resized, box=box, flip=flip)

    @staticmethod
    def apply(image: Image.Image, geometry: Geometry, factor: int = 1, nearest: bool = False) -> Image.Image:
        """Apply `geometry` to an image `factor` times smaller than the one it was drawn on.

        `nearest` resamples with nearest neighbour (label maps: no invented in-between classes);
        otherwise bicubic, as pix2pix does. Palette and 1-bit images always use nearest (PIL).
        """
        resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
        source = (geometry.source[0] // factor, geometry.source[1] // factor)
        size = (geometry.size[0] // factor, geometry.size[1] // factor)
        box = tuple(v // factor for v in geometry.box)
        out = image
        if out.size != source:
            out = out.crop((0, 0, *source))
        if size != source:
            out = out.resize(size, resample)
        if box != (0, 0, *size):
            out = out.crop(box)
        if geometry.flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return out if out is not image else image.copy()

    def __call__(
        self,
        images: Mapping[str, Image.Image],
        rng: random.Random | None,
        nearest: Collection[str] = frozenset(),
    ) -> dict[str, Image.Image]:
        """Transform every image of `images` with one geometry; names in `nearest` are label maps.

        Images of different sizes must be integer multiples of the largest (see the module doc).
        """
        if not images:
            return {}
        unknown = set(nearest) - set(images)
        if unknown:
            raise ValueError(f"nearest names images that are not given: {', '.join(sorted(unknown))}")
        ref_name = max(images, key=lambda n: images[n].size[0] * images[n].size[1])
        ref = images[ref_name].size
        factors = {name: _factor(name, img.size, ref_name, ref) for name, img in images.items()}
        align = math.lcm(*factors.values())
        geometry = self.sample(ref, rng, align)
        return {
            name: self.apply(img, geometry, factors[name], name in nearest) for name, img in images.items()
        }
