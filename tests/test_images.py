"""i2i.data.images: every odd or broken file either decodes to 8-bit RGB/L or raises InputError."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from i2i.data import images
from i2i.data.images import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    image_to_tensor,
    is_video,
    list_images,
    make_grid_image,
    read_image,
    save_image,
    tensor_to_image,
)
from i2i.errors import InputError


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, raw_rows: bytes | None) -> bytes:
    """A PNG written by hand, for what PIL cannot write (16-bit RGB) or must not (a lying header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = chunk(b"IHDR", header)
    if raw_rows is not None:
        body += chunk(b"IDAT", zlib.compress(raw_rows))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def rgb_pixels(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img)


# ---- modes -----------------------------------------------------------------------------------------
def test_rgba_is_composited_on_white(tmp_path):
    a = np.zeros((2, 3, 4), np.uint8)
    a[0, 0] = (10, 20, 30, 255)  # opaque: kept
    a[0, 1] = (200, 0, 0, 0)  # transparent: white, not the hidden red
    a[0, 2] = (0, 0, 0, 128)  # half: grey
    Image.fromarray(a).save(tmp_path / "a.png")
    got = rgb_pixels(read_image(tmp_path / "a.png"))
    assert tuple(got[0, 0]) == (10, 20, 30)
    assert tuple(got[0, 1]) == (255, 255, 255)
    assert all(abs(int(v) - 127) <= 1 for v in got[0, 2])


def test_la_and_palette_images(tmp_path):
    Image.fromarray(np.array([[[50, 255], [50, 0]]], np.uint8)).save(tmp_path / "la.png")
    got = rgb_pixels(read_image(tmp_path / "la.png"))
    assert tuple(got[0, 0]) == (50, 50, 50) and tuple(got[0, 1]) == (255, 255, 255)

    pal = Image.new("P", (4, 2))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((1, 0), 1)
    pal.save(tmp_path / "p.png")
    got = rgb_pixels(read_image(tmp_path / "p.png"))
    assert tuple(got[0, 0]) == (255, 0, 0) and tuple(got[0, 1]) == (0, 255, 0)

    pal.save(tmp_path / "pt.png", transparency=1)  # palette index 1 transparent -> white
    got = rgb_pixels(read_image(tmp_path / "pt.png"))
    assert tuple(got[0, 0]) == (255, 0, 0) and tuple(got[0, 1]) == (255, 255, 255)


def test_grayscale_and_l_mode(tmp_path):
    Image.fromarray(np.array([[0, 100, 255]], np.uint8)).save(tmp_path / "g.png")
    rgb = rgb_pixels(read_image(tmp_path / "g.png"))
    assert rgb.shape == (1, 3, 3) and (rgb == np.array([0, 100, 255])[:, None]).all()
    gray = read_image(tmp_path / "g.png", mode="L")
    assert gray.mode == "L" and np.asarray(gray).tolist() == [[0, 100, 255]]
    Image.fromarray(np.full((2, 2, 3), (255, 0, 0), np.uint8)).save(tmp_path / "red.png")
    assert read_image(tmp_path / "red.png", mode="L").getpixel((0, 0)) == 76  # ITU-R 601 luma
    with pytest.raises(ValueError):
        read_image(tmp_path / "g.png", mode="RGBA")  # type: ignore[arg-type]


def test_16_bit_gray_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], np.uint16)  # 257 * (0, 1, 128, 255)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    assert np.asarray(read_image(tmp_path / "g16.png", mode="L")).tolist() == [[0, 1, 128, 255]]
    assert rgb_pixels(read_image(tmp_path / "g16.png"))[0, :, 0].tolist() == [0, 1, 128, 255]


def test_16_bit_rgb_png(tmp_path):
    row = struct.pack(">6H", 65535, 0, 32896, 0, 65535, 65535)  # two pixels, 16 bits per channel
    path = write(tmp_path / "rgb16.png", png_bytes(2, 1, 16, 2, b"\x00" + row))
    assert rgb_pixels(read_image(path)).tolist() == [[[255, 0, 128], [0, 255, 255]]]


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # red in CMYK
    r, g, b = rgb_pixels(read_image(tmp_path / "c.jpg"))[4, 4].tolist()
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(a).save(tmp_path / "r.jpg", exif=exif, quality=95)
    img = read_image(tmp_path / "r.jpg")
    assert img.size == (20, 40)  # transposed
    got = rgb_pixels(img)
    assert got[5, 10].mean() > 200 and got[35, 10].mean() < 50  # stored left is displayed top


def test_multi_frame_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert tuple(rgb_pixels(read_image(tmp_path / "a.gif"))[0, 0]) == (255, 0, 0)


# ---- bad files -------------------------------------------------------------------------------------
def _good_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buffer, "PNG"
    )
    return buffer.getvalue()


def _good_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buffer, "JPEG"
    )
    return buffer.getvalue()


BAD_FILES = {
    "truncated.png": lambda: _good_png()[: len(_good_png()) // 2],
    "truncated.jpg": lambda: _good_jpeg()[: len(_good_jpeg()) // 2],
    "text.png": lambda: b"this is not an image\n",
    "empty.png": lambda: b"",
    "header_only.png": lambda: png_bytes(16, 16, 8, 2, None),
    "huge.png": lambda: png_bytes(100_000, 100_000, 8, 2, b"\x00"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_raise_input_error_naming_the_file(tmp_path, name):
    path = write(tmp_path / name, BAD_FILES[name]())
    with pytest.raises(InputError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert info.value.path == str(path)


def test_absurd_size_is_refused_before_decoding(tmp_path):
    path = write(tmp_path / "huge.png", BAD_FILES["huge.png"]())
    with pytest.raises(InputError, match="too large"):  # PIL's own bomb check, at open
        read_image(path)
    path = write(tmp_path / "big.png", png_bytes(10_000, 10_000, 8, 2, b"\x00"))
    with pytest.raises(InputError, match="10000x10000 \\(100 megapixels\\), more than the limit of 67"):
        read_image(path)
    Image.new("RGB", (100, 100)).save(tmp_path / "ok.png")
    read_image(tmp_path / "ok.png", max_pixels=10_000)
    with pytest.raises(InputError, match="10000 pixels\\), more than the limit of 9999 pixels"):
        read_image(tmp_path / "ok.png", max_pixels=9_999)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="directory"):
        read_image(tmp_path)
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(InputError, match="cannot read"):
        read_image(tmp_path / "file.png" / "below.png")  # a file used as a directory


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=st.sampled_from(["random", "png", "jpeg"]),
    data=st.binary(max_size=512),
    cut=st.integers(min_value=0, max_value=4000),
    suffix=st.sampled_from([".png", ".jpg"]),
)
def test_fuzz_any_bytes_give_an_image_or_input_error(tmp_path, base, data, cut, suffix):
    """Random bytes, or a valid file truncated and spliced with random bytes: never another error."""
    if base == "random":
        blob = data
    else:
        good = _GOOD[base]
        cut %= len(good)
        blob = good[:cut] + data + good[cut + len(data) :]
    path = write(tmp_path / f"fuzz{suffix}", blob)
    try:
        img = read_image(path, max_pixels=1 << 20)
    except InputError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert img.mode == "RGB" and img.size[0] * img.size[1] <= 1 << 20


_GOOD = {"png": _good_png(), "jpeg": _good_jpeg()}


# ---- tensors -----------------------------------------------------------------------------------------
def test_uint8_round_trip_is_exact():
    values = np.arange(256, dtype=np.uint8)
    rgb = Image.fromarray(np.stack([values.reshape(16, 16)] * 3, axis=2)[:, :, ::-1].copy())
    t = image_to_tensor(rgb)
    assert t.shape == (3, 16, 16) and t.dtype == torch.float32
    assert t.min() == -1 and t.max() == 1
    assert np.array_equal(np.asarray(tensor_to_image(t)), np.asarray(rgb))
    assert np.array_equal(np.asarray(tensor_to_image(t.unsqueeze(0))), np.asarray(rgb))
    gray = Image.fromarray(values.reshape(16, 16))
    tg = image_to_tensor(gray)
    assert tg.shape == (1, 16, 16)
    back = tensor_to_image(tg)
    assert back.mode == "L" and np.array_equal(np.asarray(back), values.reshape(16, 16))


def test_tensor_to_image_clamps_and_rounds():
    t = torch.tensor([-5.0, 7.0, float("nan"), 1 / 127.5 * 0.6 - 1, 1 / 127.5 * 0.4 - 1]).view(1, 1, 5)
    assert np.asarray(tensor_to_image(t)).tolist() == [[0, 255, 128, 1, 0]]
    with pytest.raises(ValueError):
        tensor_to_image(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError):
        tensor_to_image(torch.zeros(4, 4, 4))


def test_image_to_tensor_normalises_other_modes():
    assert image_to_tensor(Image.new("RGBA", (2, 2), (0, 0, 0, 0))).eq(1).all()  # transparent -> white
    assert image_to_tensor(Image.new("I;16", (2, 2), 65535)).shape == (1, 2, 2)


# ---- saving ------------------------------------------------------------------------------------------
def test_save_image_is_atomic_and_makes_directories(tmp_path):
    t = torch.rand(3, 8, 10) * 2 - 1
    for suffix in (".png", ".jpg", ".bmp", ".webp", ".tif"):
        out = save_image(t, tmp_path / "deep" / "er" / f"x{suffix}")
        assert read_image(out).size == (10, 8)
    assert sorted(p.name for p in (tmp_path / "deep" / "er").iterdir()) == sorted(
        f"x{s}" for s in (".png", ".jpg", ".bmp", ".webp", ".tif")
    )
    exact = save_image(tensor_to_image(t), tmp_path / "exact.png")
    assert np.array_equal(np.asarray(Image.open(exact)), np.asarray(tensor_to_image(t)))


def test_failed_save_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "x.png"
    with pytest.raises(InputError, match="suffix"):
        save_image(torch.zeros(3, 4, 4), tmp_path / "x.unknown")
    old = save_image(torch.zeros(3, 4, 4), out).read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(InputError, match="disk full"):
        save_image(torch.ones(3, 4, 4), out)
    with pytest.raises(InputError):
        save_image(torch.ones(3, 4, 4), tmp_path / "new.png")
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    assert out.read_bytes() == old


# ---- grids, listings -----------------------------------------------------------------------------------
def test_make_grid_image_rows_are_batch_items():
    a = torch.full((2, 3, 4, 6), -1.0)  # black
    b = torch.full((3, 1, 5, 4), 1.0)  # white, grey-scale, one more row, taller
    grid = make_grid_image([a, b], padding=1, pad_value=0.0)
    assert grid.mode == "RGB" and grid.size == (1 + 6 + 1 + 4 + 1, 1 + 5 + 1 + 5 + 1 + 5 + 1)
    px = np.asarray(grid)
    assert tuple(px[1, 1]) == (0, 0, 0) and tuple(px[1, 8]) == (255, 255, 255)
    assert tuple(px[0, 0]) == (128, 128, 128)  # padding
    assert tuple(px[13, 1]) == (128, 128, 128)  # row 3 has no cell in column 1
    assert make_grid_image(a).size == (10, 14)


def test_list_images_and_suffix_sets(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.JPEG", "d.txt", ".hidden.png", "e.tiff", "f.webp", "g.bmp", "v.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == [
        "a.jpg",
        "b.PNG",
        "c.JPEG",
        "e.tiff",
        "f.webp",
        "g.bmp",
    ]
    with pytest.raises(InputError, match="no such directory"):
        list_images(tmp_path / "nope")
    with pytest.raises(InputError, match="not a directory"):
        list_images(tmp_path / "a.jpg")
    assert (
        is_video("x/clip.MP4")
        and is_video(Path("a.webm"))
        and not is_video("a.png")
        and not is_video("a.gif")
    )
    assert all(s.startswith(".") and s == s.lower() for s in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
    assert not IMAGE_EXTENSIONS & VIDEO_EXTENSIONS
    assert images.DEFAULT_MAX_PIXELS == 8192 * 8192
