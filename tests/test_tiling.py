"""Tiled inference (`i2i.tiling`): exact where a tile's margin covers the receptive field (also at
output scale 2, with a size multiple, a spatial noise and a previous frame cut consistently),
no visible seams where it does not (the gradient across tile borders against the image's own,
which naive tiles fail), tile sizes monotone in the memory budget, the models that must not be
tiled refused, and i2i-run's --tile / --max-memory."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from i2i import tiling
from i2i.interfaces import Condition, Generator
from i2i.tiling import TileSettings


def _photo() -> np.ndarray:
    """A real photo (scikit-image's chelsea, 451x300, shipped in its package) as (H,W,3) uint8."""
    from skimage import data

    return data.chelsea()


def _run(gen: nn.Module):
    return lambda cond, z: gen(cond, z).float()


class ConvNet(Generator):
    """A small fully convolutional generator: optional stride-2 step down (size multiple 2) and
    pixel-shuffle x`scale` up; reads a spatial noise z and the previous frame when given."""

    def __init__(self, scale: int = 1, down: bool = False, padding: str = "zeros", layers: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        c = 8
        body: list[nn.Module] = [
            nn.Conv2d(3, c, 3, 2 if down else 1, 1, padding_mode=padding),
            nn.LeakyReLU(0.2),
        ]
        for _ in range(layers - 1):
            body += [nn.Conv2d(c, c, 3, 1, 1, padding_mode=padding), nn.LeakyReLU(0.2)]
        up = scale * (2 if down else 1)
        body += [nn.Conv2d(c, 3 * up * up, 3, 1, 1, padding_mode=padding), nn.PixelShuffle(up)]
        self.body = nn.Sequential(*body)
        self.noise = nn.Conv2d(2, 3, 3, 1, 1)
        self.prev = nn.Conv2d(3, 3, 3, 1, 1)
        self.size_multiple = 2 if down else 1

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        out = self.body(cond.maps)
        if z is not None:
            out = out + nn.functional.interpolate(self.noise(z), size=out.shape[-2:])
        if cond.previous is not None:
            out = out + self.prev(cond.previous)
        return out


@pytest.mark.parametrize("scale,down", [(1, False), (2, False), (2, True)])
def test_tiles_that_cover_the_receptive_field_give_the_untiled_output(scale, down):
    gen = ConvNet(scale, down).eval()
    torch.manual_seed(1)
    maps = torch.rand(2, 3, 96, 132) * 2 - 1
    cond = Condition(maps=maps)
    with torch.no_grad():
        whole = gen(cond)
        tiles = tiling.plan(_run(gen), gen, cond, None, TileSettings(tile=56), multiple=gen.size_multiple)
        assert tiles is not None and tiles.count >= 4 and tiles.exact
        assert tiles.margin >= 3 * (2 if down else 1) - 1  # three 3x3 layers (at half size when down)
        assert tiles.scale == (scale, scale)
        assert all(s % gen.size_multiple == 0 for s in (*tiles.rows.starts, *tiles.cols.starts))
        tiled = tiling.run_tiled(_run(gen), cond, None, tiles)
    assert tiled.shape == whole.shape
    assert float((tiled - whole).abs().max()) < 1e-5


def test_spatial_noise_and_the_previous_frame_are_cut_consistently():
    """z at the maps' size is cut with the input box, the previous frame (output size) with the
    output box: tiled equals untiled."""
    gen = ConvNet(scale=2).eval()
    torch.manual_seed(2)
    cond = Condition(maps=torch.rand(1, 3, 80, 100) * 2 - 1, previous=torch.rand(1, 3, 160, 200))
    z = torch.randn(1, 2, 80, 100)
    with torch.no_grad():
        whole = gen(cond, z)
        tiles = tiling.plan(_run(gen), gen, cond, z, TileSettings(tile=48))
        assert tiles is not None and tiles.count > 1
        tiled = tiling.run_tiled(_run(gen), cond, z, tiles)
    assert float((tiled - whole).abs().max()) < 1e-5


def _column_steps(image: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring columns: index x is the step from x to x+1."""
    return (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=(0, 1, 2))


def _seam(image: Tensor, untiled: Tensor, zones: list[tuple[int, int]]) -> float:
    """How much gradient across the columns of the border zones [a, b) tiling added, against the
    image's own gradient (its median column step): a seam is a column-wide step or dip that the
    untiled image does not have."""
    added = _column_steps(image - untiled)
    return max(float(added[a:b].max()) for a, b in zones) / float(_column_steps(untiled).median())


class Blur(Generator):
    """x2 bilinear upscaling of `layers` 3x3 box blurs with zero padding: a smooth image of the
    photo whose borders darken towards 0 over `layers` pixels, as every zero-padded network's do."""

    def __init__(self, layers: int = 8) -> None:
        super().__init__()
        self.blurs = nn.ModuleList(nn.Conv2d(3, 3, 3, 1, 1, groups=3, bias=False) for _ in range(layers))
        for conv in self.blurs:
            nn.init.constant_(conv.weight, 1 / 9)

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        x = cond.maps
        for conv in self.blurs:
            x = conv(x)
        return nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def test_blended_tiles_show_no_seams_where_naive_tiles_do():
    """A network with a receptive field (8 px) wider than the margin it is given (2): every tile
    is wrong near its edges. Naive tiles (no overlap) put a step at each border; blended tiles
    keep the border zones within the image's own variation."""
    gen = Blur().eval()
    photo = torch.from_numpy(_photo().astype(np.float32))
    maps = (photo.permute(2, 0, 1)[None] / 127.5 - 1)[..., 100:172, 100:292]  # one row of tiles
    cond = Condition(maps=maps)
    with torch.no_grad():
        whole = gen(cond)
        tiles = tiling.plan(_run(gen), gen, cond, None, TileSettings(tile=80, margin=2))
        assert tiles is not None and len(tiles.cols.starts) >= 3 and len(tiles.rows.starts) == 1
        blended = tiling.run_tiled(_run(gen), cond, None, tiles)
        naive = torch.cat([gen(Condition(maps=maps[..., x : x + 48])) for x in range(0, 192, 48)], dim=-1)
    s = 2  # output pixels per input pixel
    naive_borders = [(x * s - 16, x * s + 16) for x in range(48, 192, 48)]
    starts = tiles.cols.starts  # a zone: from where a tile starts to where the one before it ends
    blend_zones = [(b * s, (a + tiles.cols.size) * s) for a, b in pairwise(starts)]
    assert _seam(naive, whole, naive_borders) > 2.0  # naive tiles: a seam steeper than the image
    assert _seam(blended, whole, blend_zones) < 0.2
    assert float((blended - whole).abs().max()) > 1e-3  # not exact: the blending did the work


def test_tile_size_grows_with_the_budget():
    """More memory never means smaller tiles or more work; tiles stay within their budget."""
    areas, works = [], []
    for budget in [2e3, 5e3, 1e4, 3e4, 1e5, 3e5, 1e6]:
        rows, cols = tiling.plan_grid(540, 960, overlap=42, align=4, max_area=budget)
        area = rows.size * cols.size
        areas.append(area)
        works.append(area * len(rows.starts) * len(cols.starts))
        if budget >= 2 * 46 * 46:
            assert area <= budget
        for axis, length in ((rows, 540), (cols, 960)):
            assert axis.starts[0] == 0 and axis.starts[-1] + axis.size == length
            assert all(s % 4 == 0 for s in axis.starts) and axis.size % 4 == 0
            assert all(b - a <= axis.size - 42 for a, b in pairwise(axis.starts))
    assert areas == sorted(areas) and works == sorted(works, reverse=True)
    assert len(set(areas)) > 3


def test_budget_through_the_pipeline_planner():
    gen = ConvNet(scale=2).eval()
    cond = Condition(maps=torch.zeros(1, 3, 300, 400))
    sides = []
    with torch.no_grad():
        for kb in (256, 1024, 4096, 32768):
            tiles = tiling.plan(_run(gen), gen, cond, None, TileSettings(max_memory=kb << 10))
            sides.append(0 if tiles is None else tiles.rows.size * tiles.cols.size)
    assert sides[0] > 0 and sides[-1] == 0  # 32 MiB: the whole input fits, not tiled
    assert sides[:-1] == sorted(sides[:-1])


def test_parse_size():
    assert tiling.parse_size("2G") == 2 << 30
    assert tiling.parse_size("512M") == 512 << 20
    assert tiling.parse_size("1.5GiB") == 3 << 29
    assert tiling.parse_size("800mb") == 800 << 20
    assert tiling.parse_size("4096") == 4096
    for bad in ("lots", "-1G", "0", "2X"):
        with pytest.raises(ValueError, match="size such as"):
            tiling.parse_size(bad)
    assert 0 < tiling.default_budget() <= tiling.DEFAULT_CAP


class _Instance(Generator):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 3, 3, 1, 1), nn.InstanceNorm2d(3))

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        return self.net(cond.maps)


def test_what_must_not_be_tiled_is_not():
    maps = torch.zeros(1, 3, 300, 300)
    forced = TileSettings(tile=64)
    inst = _Instance()
    assert "InstanceNorm2d" in tiling.refusal(inst, Condition(maps=maps), None)
    assert tiling.plan(_run(inst), inst, Condition(maps=maps), None, forced) is None
    inst.tileable = True  # declared: tiled in spite of its layers
    assert tiling.refusal(inst, Condition(maps=maps), None) is None
    gen = ConvNet()
    gen.tileable = False
    assert "tileable = False" in tiling.refusal(gen, Condition(maps=maps), None)
    gen.tileable = None
    assert (
        tiling.refusal(gen, Condition(vector=torch.zeros(1, 8)), None) == "the condition has no spatial maps"
    )
    assert "aligned" in tiling.refusal(gen, Condition(maps=maps), None, modality_tileable=False)
    odd = Condition(maps=maps, refs=torch.zeros(1, 3, 256, 192))
    assert "Condition.refs is 256x192" in tiling.refusal(gen, odd, None)
    assert tiling.refusal(gen, Condition(maps=maps, refs=torch.zeros(1, 3, 300, 300)), None) is None
    assert tiling.plan(_run(gen), gen, Condition(maps=maps), None, TileSettings(tile=0)) is None


def test_modalities_that_say_no_are_never_tiled():
    from i2i.plugins import get_manager

    modalities = get_manager().modalities()
    assert not modalities["pose2img"].tileable and not modalities["face2img"].tileable
    assert modalities["img2img"].tileable


# ---- the command line ---------------------------------------------------------------------------
def _cli(argv: list[str]) -> int:
    from i2i.cli.main import run_main

    with pytest.raises(SystemExit) as info:
        run_main(argv)
    return int(info.value.code or 0)


def test_tile_flags_on_the_shipped_x4_model(tmp_path, capsys):
    """--tile gives the untiled image (8-bit, at most one level apart: the margin is measured to
    1e-5), --max-memory too; bad values are one line, exit 2."""
    src = tmp_path / "in.png"
    Image.fromarray(_photo()[100:172, 150:270]).save(src)
    base = ["--plugin", "img2img", "--input", str(src)]
    assert _cli([*base, "--tile", "0", "--out", str(tmp_path / "whole.png")]) == 0
    assert _cli([*base, "--tile", "64", "--out", str(tmp_path / "tiled.png")]) == 0
    assert _cli([*base, "--max-memory", "64M", "--out", str(tmp_path / "budget.png")]) == 0
    whole = np.asarray(Image.open(tmp_path / "whole.png"), dtype=np.int16)
    assert whole.shape == (288, 480, 3)
    for name in ("tiled.png", "budget.png"):
        assert np.abs(np.asarray(Image.open(tmp_path / name), dtype=np.int16) - whole).max() <= 1, name
    capsys.readouterr()
    for flags, message in (
        (["--tile", "-1"], "--tile must be 0"),
        (["--max-memory", "lots"], "size such as 2G"),
        (["--tile", "20"], "--tile 20: tiles of this model must be larger than their overlap"),
        (["--max-memory", "1M"], "--max-memory 1M: the smallest tiles this model can use"),
    ):
        assert _cli([*base, *flags, "--out", str(tmp_path / "bad.png")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad.png").exists()


class _Wide(Generator):
    """Two dilated 3x3 convolutions reaching 2 x 40 px: a field wider than MAX_MARGIN, so tiles
    can never be exact (like RRDB's trunk)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, 1, 40, dilation=40), nn.Conv2d(8, 3, 3, 1, 40, dilation=40)
        )

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        return self.net(cond.maps)


def test_the_automatic_budget_tiles_an_inexact_generator_only_when_it_must(monkeypatch):
    """Under the default budget, a generator whose tiles cannot be exact runs whole while the
    whole input fits a quarter of the available memory (DEFAULT_CAP, which only saves memory,
    does not apply to it); when it does not fit, or a budget or tile side is given, it is tiled.
    An exact generator keeps the cap."""
    cond = Condition(maps=torch.rand(1, 3, 300, 400) * 2 - 1)
    monkeypatch.setattr(tiling, "DEFAULT_CAP", 4 << 20)  # 4 MiB: both nets would be tiled by the cap
    wide, exact = _Wide().eval(), ConvNet().eval()
    with torch.no_grad():
        monkeypatch.setattr(tiling, "available_memory", lambda: 1 << 30)
        assert tiling.plan(_run(wide), wide, cond, None) is None
        tiles = tiling.plan(_run(exact), exact, cond, None)
        assert tiles is not None and tiles.exact
        assert tiling.plan(_run(wide), wide, cond, None, TileSettings(max_memory=4 << 20)) is not None
        assert tiling.plan(_run(wide), wide, cond, None, TileSettings(tile=200)) is not None
        monkeypatch.setattr(tiling, "available_memory", lambda: 16 << 20)  # 4 MiB share: does not fit
        tiles = tiling.plan(_run(wide), wide, cond, None)
        assert tiles is not None and not tiles.exact and tiles.margin == tiling.MAX_MARGIN
