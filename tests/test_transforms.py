"""i2i.data.transforms: one geometry for every image of a sample, reproducible from the rng."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from i2i.data.transforms import Geometry, PairedTransform


def coords(width: int, height: int, tag: int) -> Image.Image:
    """Pixel (x, y) holds (x, y, tag): after a crop the first pixel says where the crop started."""
    ys, xs = np.mgrid[0:height, 0:width]
    return Image.fromarray(np.stack([xs, ys, np.full_like(xs, tag)], axis=2).astype(np.uint8))


def px(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(int)


def origin_and_flip(img: Image.Image) -> tuple[int, int, bool]:
    a = px(img)
    flipped = a[0, 0, 0] > a[0, -1, 0]
    left = a[0, -1, 0] if flipped else a[0, 0, 0]
    return int(left), int(a[0, 0, 1]), bool(flipped)


def test_pix2pix_default_resize_crop_flip():
    t = PairedTransform(load_size=286, crop_size=256, flip=True)
    out = t({"A": Image.new("RGB", (600, 400)), "B": Image.new("L", (600, 400))}, random.Random(0))
    assert out["A"].size == out["B"].size == (256, 256)
    assert out["A"].mode == "RGB" and out["B"].mode == "L"
    assert (
        repr(t) == "PairedTransform(load_size=286, crop_size=256, flip=True, resize_mode='resize_and_crop')"
    )


@pytest.mark.parametrize("seed", range(20))
def test_same_crop_and_flip_for_every_image(seed):
    t = PairedTransform(load_size=0, crop_size=32, flip=True, resize_mode="crop")
    images = {"target": coords(80, 60, 1), "input": coords(80, 60, 2), "labels": coords(80, 60, 3)}
    out = t(images, random.Random(seed), nearest={"labels"})
    a, b, c = (px(out[k]) for k in ("target", "input", "labels"))
    assert a.shape == (32, 32, 3)
    assert np.array_equal(a[..., :2], b[..., :2]) and np.array_equal(a[..., :2], c[..., :2])
    assert (a[..., 2] == 1).all() and (b[..., 2] == 2).all() and (c[..., 2] == 3).all()
    x, y, flipped = origin_and_flip(out["target"])
    step = -1 if flipped else 1
    assert np.array_equal(a[0, :, 0], np.arange(32)[::step] + x)  # a contiguous crop, not resampled
    assert np.array_equal(a[:, 0, 1], np.arange(32) + y)
    assert 0 <= x <= 80 - 32 and 0 <= y <= 60 - 32


def test_crops_and_flips_vary_and_are_reproducible():
    t = PairedTransform(load_size=0, crop_size=16, flip=True, resize_mode="crop")
    image = {"a": coords(64, 64, 0)}
    draws = [origin_and_flip(t(image, random.Random(seed))["a"]) for seed in range(40)]
    assert len({d[:2] for d in draws}) > 20 and {d[2] for d in draws} == {True, False}
    again = [origin_and_flip(t(image, random.Random(seed))["a"]) for seed in range(40)]
    assert draws == again
    rng = random.Random(7)
    first, second = t(image, rng), t(image, rng)  # the rng advances: successive samples differ
    assert origin_and_flip(first["a"]) != origin_and_flip(second["a"])


def test_no_rng_is_deterministic_centre_crop_without_flip():
    t = PairedTransform(load_size=0, crop_size=20, flip=True, resize_mode="crop")
    for _ in range(3):
        assert origin_and_flip(t({"a": coords(61, 40, 0)}, None)["a"]) == (20, 10, False)
    full = PairedTransform(load_size=100, crop_size=100, flip=True)
    assert full.sample((300, 200), None) == Geometry(
        source=(300, 200), size=(100, 100), box=(0, 0, 100, 100), flip=False
    )


def test_nearest_keeps_label_values_and_bicubic_does_not():
    labels = Image.fromarray(np.kron(np.array([[0, 7], [3, 9]], np.uint8), np.ones((5, 5), np.uint8)))
    photo = labels.copy()
    t = PairedTransform(load_size=37, crop_size=33, flip=True)
    out = t({"labels": labels, "photo": photo}, random.Random(1), nearest={"labels"})
    assert set(np.unique(px(out["labels"]))) <= {0, 3, 7, 9}
    assert not set(np.unique(px(out["photo"]))) <= {0, 3, 7, 9}
    with pytest.raises(ValueError, match="not given"):
        t({"photo": photo}, None, nearest={"labels"})


def test_palette_label_maps_stay_palette():
    labels = Image.new("P", (40, 40))
    labels.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] * 85 + [0, 0, 0])
    labels.paste(2, (10, 10, 30, 30))
    out = PairedTransform(load_size=50, crop_size=48, flip=False)({"l": labels}, random.Random(0))
    assert out["l"].mode == "P" and set(np.unique(np.asarray(out["l"]))) == {0, 2}


def test_modes_crop_upscales_small_images_and_none_keeps_size():
    crop = PairedTransform(load_size=0, crop_size=64, flip=False, resize_mode="crop")
    assert crop({"a": Image.new("RGB", (32, 48))}, random.Random(0))["a"].size == (64, 64)
    assert crop.sample((32, 48), None).size == (64, 96)
    none = PairedTransform(load_size=0, crop_size=0, flip=True, resize_mode="none")
    out = none({"a": coords(30, 20, 0), "b": coords(30, 20, 1)}, random.Random(3))
    assert out["a"].size == (30, 20)
    assert np.array_equal(px(out["a"])[..., :2], px(out["b"])[..., :2])
    with pytest.raises(ValueError):
        PairedTransform(load_size=10, crop_size=20, flip=True)
    with pytest.raises(ValueError):
        PairedTransform(load_size=10, crop_size=5, flip=True, resize_mode="zoom")  # type: ignore[arg-type]


def box_down(img: Image.Image, factor: int) -> Image.Image:
    return img.resize((img.width // factor, img.height // factor), Image.Resampling.BOX)


@pytest.mark.parametrize("hr_size", [(96, 72), (98, 75)])  # an exact multiple, and a few pixels more
@pytest.mark.parametrize("seed", range(6))
def test_super_resolution_pairs_stay_aligned(hr_size, seed):
    rng = np.random.default_rng(seed)
    hr = Image.fromarray(rng.integers(0, 256, (hr_size[1], hr_size[0], 3), dtype=np.uint8))
    lr = box_down(hr.crop((0, 0, 96, 72)), 4)  # as a downscaler makes it: 24x18 from the covered 96x72
    t = PairedTransform(load_size=0, crop_size=32, flip=True, resize_mode="crop")
    out = t({"target": hr, "input": lr}, random.Random(seed))
    assert out["target"].size == (32, 32) and out["input"].size == (8, 8)
    assert np.array_equal(px(out["input"]), px(box_down(out["target"], 4)))  # same region, same flip
    geometry = t.sample(hr.size, random.Random(seed), align=4)
    assert all(v % 4 == 0 for v in geometry.box)


def test_super_resolution_with_resize_and_coordinates():
    hr, lr = coords(200, 120, 0), coords(50, 30, 1)
    t = PairedTransform(load_size=64, crop_size=32, flip=True)
    for seed in range(5):
        g = t.sample(hr.size, random.Random(seed), align=4)
        out = t({"hr": hr, "lr": lr}, random.Random(seed), nearest={"hr", "lr"})
        assert out["hr"].size == (32, 32) and out["lr"].size == (8, 8)
        assert g.box[0] % 4 == 0 and g.box[1] % 4 == 0
    with pytest.raises(ValueError, match="multiple"):
        PairedTransform(load_size=66, crop_size=32, flip=True)({"hr": hr, "lr": lr}, None)
    with pytest.raises(ValueError, match="integer multiples"):
        t({"hr": hr, "lr": coords(60, 30, 1)}, None)
    with pytest.raises(ValueError, match="integer multiples"):
        t({"hr": hr, "other": coords(150, 90, 1)}, None)


def test_empty_and_untouched_inputs():
    t = PairedTransform(load_size=0, crop_size=0, flip=False, resize_mode="none")
    assert t({}, random.Random(0)) == {}
    src = coords(8, 8, 0)
    out = t({"a": src}, random.Random(0))["a"]
    assert out is not src and np.array_equal(px(out), px(src))
