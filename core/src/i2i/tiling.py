"""Tiled inference: a large image generated as overlapping tiles, blended without seams, in the
memory of one tile.

Why: a convolutional generator's memory grows with the pixels it works on, and a
super-resolution network's last layers work at the output size (x4: sixteen times the input's
pixels), so one 4K frame needs more memory than a laptop has. `Pipeline.generate` cuts the
Condition into tiles, runs the generator on each and blends the results (`generate` here).

How the output stays right:

- Context. Every tile reads `margin` input pixels beyond the part of it that counts, so that part
  sees what it sees in the whole image. The margin is measured once per generator and layout
  (`measure_margin`): the generator runs on a window and on the window's top-left part, and the
  margin is how far from that cut the two outputs differ by more than `EXACT_TOL`. When the
  margin covers the generator's receptive field, tiled output equals untiled output to float
  rounding. A field wider than `MAX_MARGIN` (deep U-Nets, RRDB's long tail) is capped there; the
  tiles then differ slightly where they meet, and the blending makes that a gradual change.
- Blending. Neighbouring tiles overlap by 2 * margin + RAMP input pixels. Inside the overlap one
  tile's weight falls along a raised cosine while the next one's rises; weights are separable
  (rows x columns) and normalised to sum to one at every pixel, so no border shows as a step.
- Alignment. Tile origins and sizes are multiples of the generator's `size_multiple` (and of
  what makes the output box whole), so a strided network sees the same pixel grid in a tile as
  in the whole image. A tile's output box is its input box times the generator's scale (x4 for
  super-resolution), measured on the probe, per axis, not assumed.
- What is cut. Every (B,C,H,W) tensor of the Condition at the maps' size is cut with the tile's
  input box, and so is a (B,C,H,W) noise z; `previous` (the last output frame of a video, at the
  output size) is cut with the output box. Vectors, tokens and other non-4-D tensors go whole to
  every tile (a noise vector z is the same for all tiles of a sample, so tiles agree). A 4-D
  tensor of any other size cannot be cut consistently: such a Condition is not tiled. The
  conditioner has run on the whole input before the cut, so what it derives globally (instance
  edges, a lightness channel) is the same in every tile; `aux` (loss-term outputs, which no
  network reads) is dropped.

Never tiled (`refusal` says why): a Condition without spatial tensors (text to image); a modality with
`tileable=False` (its maps are not aligned with the output: pose transfer, talking heads); a
generator whose `tileable` is False; a generator that normalises with statistics of the whole
image, which a tile cannot see (InstanceNorm / GroupNorm without running statistics, adaptive
pooling, attention layers: `global_context`), unless it says `tileable = True`.

Memory: `measure` runs the generator once on a small window with hooks on its layers; the largest
input + output of one layer, per input pixel and sample, times SAFETY, is what a tile costs per
pixel. The tile grid (`plan_grid`) is the one with the least total work whose tiles fit the
budget (`TileSettings.max_memory`, by default `default_budget()`: a quarter of the available
memory, at most DEFAULT_CAP on a CPU) or the given `TileSettings.tile` side. Under the default
budget, a generator whose tiles cannot be exact (margin wider than MAX_MARGIN) is tiled only when
the whole input would not fit a quarter of the available memory (`uncapped_budget`): its tiles
change the output and redo their wide overlaps, which the cap's small saving does not repay.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from i2i.errors import I2IError
from i2i.interfaces import Condition

Run = Callable[[Condition, Tensor | None], Tensor]
"""`run(condition, z) -> images`: the generator as the pipeline calls it (device, precision)."""

MAX_MARGIN = 64
"""Most context pixels (input) a tile reads beyond the part of it that counts."""
RAMP = 16
"""Width (input pixels) of the blend between neighbouring tiles."""
EXACT_TOL = 1e-5
"""Output difference (images in [-1, 1]) below which the margin probe calls two outputs equal:
far below one 8-bit level (2/255), above float32 rounding of a deep network."""
SAFETY = 2.0
"""Measured peak layer memory times this is what one tile is budgeted at (tensors alive across
layers, allocator slack); benchmarks/bench_tiling.py checks the resulting peak RSS."""
DEFAULT_FRACTION = 0.25
"""Share of the available memory a tile may use by default."""
DEFAULT_CAP = 1 << 30
"""Default tile budget on a CPU at most: beyond about 1 GiB tiles are no faster there (the
overlap is already a small share of the work), and the whole run stays within a laptop's means."""
AUTO_MIN_PIXELS = 256 * 256
"""Inputs of at most this many pixels are never tiled by the default budget (nothing to gain)."""
_MEMORY_WINDOW = 64  # side of the window the memory probe runs on (rounded up to the alignment)
_MARGIN_WINDOW = 2 * MAX_MARGIN + 32  # side of the window the margin probe runs on


@dataclass(frozen=True)
class TileSettings:
    """How `Pipeline.generate` tiles.

    tile: the largest tile side in input pixels (tiles are then at most tile x tile); None: chosen
    from `max_memory`; 0: never tile. max_memory: bytes one tile's computation may use (None:
    `default_budget`). margin: context pixels a tile reads beyond what it keeps (None: measured,
    capped at MAX_MARGIN); giving it trades exactness for speed.
    """

    tile: int | None = None
    max_memory: int | None = None
    margin: int | None = None

    def __post_init__(self) -> None:
        if self.tile is not None and self.tile < 0:
            raise I2IError(f"--tile must be 0 (off) or a tile side in pixels, not {self.tile}")
        if self.max_memory is not None and self.max_memory <= 0:
            raise I2IError(f"--max-memory must be positive, not {self.max_memory}")
        if self.margin is not None and self.margin < 0:
            raise I2IError(f"tile margin must be >= 0, not {self.margin}")


OFF = TileSettings(tile=0)
"""Never tile."""


# ---- memory --------------------------------------------------------------------------------------
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """ "2G", "512M", "1.5GiB", "800MB" or a byte count -> bytes (binary units: 1G = 2**30).
    ValueError with a short reason otherwise (the command line shows it as a usage error)."""
    s = str(text).strip().lower().replace(" ", "")
    for suffix in ("ib", "b"):
        if s.endswith(suffix) and s[: -len(suffix)][-1:].isalpha():
            s = s[: -len(suffix)]
            break
    unit = s[-1:] if s[-1:].isalpha() else ""
    number = s[: len(s) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"expected a size such as 2G or 512M, got {text!r}") from None
    if unit not in _UNITS or not value > 0 or math.isinf(value):
        raise ValueError(f"expected a size such as 2G or 512M, got {text!r}")
    return int(value * _UNITS[unit])


def available_memory() -> int:
    """Bytes of RAM available to new allocations now: MemAvailable of /proc/meminfo (Linux), else
    psutil when installed, else the free physical pages the OS reports."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # type: ignore[import-not-found]

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30  # nothing to ask: assume a small machine


def default_budget(device: torch.device | str = "cpu") -> int:
    """The tile budget when none is given: a quarter of the available memory, at most DEFAULT_CAP on
    a CPU; on a GPU half of its free memory (larger tiles are faster there, and nothing else of the
    run lives in GPU memory)."""
    budget = uncapped_budget(device)
    return budget if torch.device(device).type == "cuda" else min(budget, DEFAULT_CAP)


def uncapped_budget(device: torch.device | str = "cpu") -> int:
    """The default budget without DEFAULT_CAP: what an automatic plan allows before it tiles a
    generator whose tiles cannot be exact (a receptive field wider than MAX_MARGIN). Tiling those
    changes the output near the seams and costs the overlaps (ESRGAN at 512x512 ran 2.7 times
    slower in 1 GiB tiles), so it is done only when the whole input would not fit."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 2)
    return int(available_memory() * DEFAULT_FRACTION)


# ---- may this be tiled? --------------------------------------------------------------------------
_GLOBAL_LAYERS: tuple[type[nn.Module], ...] = (
    nn.GroupNorm,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.MultiheadAttention,
)


def global_context(generator: nn.Module) -> str | None:
    """Why `generator` cannot be run on tiles, or None when it can.

    Its own `tileable` decides when set (True or False); otherwise any layer that sees the whole
    image at once (instance or group normalisation with the input's own statistics, adaptive
    pooling, attention) makes it untileable: a tile would normalise or pool over itself only."""
    declared = getattr(generator, "tileable", None)
    name = type(generator).__name__
    if declared is not None:
        return None if declared else f"{name} says it cannot be tiled (tileable = False)"
    for layer in generator.modules():
        instance = isinstance(layer, nn.modules.instancenorm._InstanceNorm)
        if (instance and not layer.track_running_stats) or isinstance(layer, _GLOBAL_LAYERS):
            return f"{name} has {type(layer).__name__} layers, which see the whole image"
    return None


def reference(cond: Condition) -> Tensor | None:
    """The tensor whose height and width are the input's: `maps`, else the first other (B,C,H,W)
    tensor (refs, named parts), never the previous output frame."""
    if cond.maps is not None:
        return cond.maps
    return next((t for k, t in cond.named_tensors().items() if t.dim() == 4 and k != "previous"), None)


def refusal(
    generator: nn.Module, cond: Condition, z: Tensor | None, modality_tileable: bool = True
) -> str | None:
    """Why this generator on this Condition is not tiled, or None when it may be."""
    ref = reference(cond)
    if ref is None:
        return "the condition has no spatial maps"
    if not modality_tileable:
        return "the modality's inputs are not aligned with its output (tileable=False)"
    why = global_context(generator)
    if why is not None:
        return why
    hw = ref.shape[-2:]
    for name, t in cond.named_tensors().items():
        if t.dim() == 4 and name != "previous" and t.shape[-2:] != hw:
            return f"Condition.{name} is {t.shape[-2]}x{t.shape[-1]}, not the maps' {hw[0]}x{hw[1]}"
    if z is not None and z.dim() == 4 and z.shape[-2:] != hw:
        return f"the noise is {z.shape[-2]}x{z.shape[-1]}, not the maps' {hw[0]}x{hw[1]}"
    return None


# ---- probes: memory per pixel, output scale, margin ----------------------------------------------
@dataclass(frozen=True)
class Probe:
    """What running a generator on a small window showed: bytes one tile needs per input pixel and
    sample (SAFETY included), and the output/input size ratio per axis (height, width)."""

    bytes_per_pixel: float
    scale: tuple[Fraction, Fraction]


_PROBES: weakref.WeakKeyDictionary[nn.Module, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _layout(cond: Condition, z: Tensor | None) -> tuple[Any, ...]:
    """What a probe's result depends on besides the generator: the tensors' channels and types."""
    parts = [
        (k, tuple(t.shape[1:-2] if t.dim() == 4 else t.shape[1:]), t.dtype)
        for k, t in cond.named_tensors().items()
    ]
    if z is not None:
        parts.append(("z", tuple(z.shape[1:-2] if z.dim() == 4 else z.shape[1:]), z.dtype))
    return tuple(parts)


def _nbytes(value: Any) -> int:
    if isinstance(value, Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 0


def _align_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _align_down(n: int, m: int) -> int:
    return n // m * m


def _first(cond: Condition, z: Tensor | None) -> tuple[Condition, Tensor | None]:
    """Sample 0 of the batch: probes run on one sample."""
    return cond.map(lambda t: t[:1]), (None if z is None else z[:1])


def _window(
    cond: Condition,
    z: Tensor | None,
    y: int,
    x: int,
    h: int,
    w: int,
    scale: tuple[Fraction, Fraction] | None = None,
) -> tuple[Condition, Tensor | None]:
    """A window of the input: spatial tensors cut to it, the previous frame cut to its output box
    when the scale is known (dropped before: the memory probe runs without it)."""
    from dataclasses import replace

    hw = reference(cond).shape[-2:]  # type: ignore[union-attr]

    def cut(t: Tensor) -> Tensor:
        return t[..., y : y + h, x : x + w] if t.dim() == 4 and t.shape[-2:] == hw else t

    part = replace(cond, previous=None).map(cut)
    if scale is not None and cond.previous is not None:
        from i2i.temporal import match_size

        sy, sx = scale
        prev = match_size(cond.previous, (int(hw[0] * sy), int(hw[1] * sx)))
        part = replace(
            part, previous=prev[..., int(y * sy) : int((y + h) * sy), int(x * sx) : int((x + w) * sx)]
        )
    return part, (cut(z) if z is not None else None)


def measure(run: Run, generator: nn.Module, cond: Condition, z: Tensor | None, align: int) -> Probe:
    """Run the generator once on a small window of sample 0 (cached per generator and layout):
    the largest input + output of any one layer per input pixel, and the output/input scale."""
    cache = _PROBES.setdefault(generator, {})
    key = ("memory", _layout(cond, z), align)
    if key in cache:
        return cache[key]
    h, w = reference(cond).shape[-2:]  # type: ignore[union-attr]
    side = _align_up(_MEMORY_WINDOW, align)
    wh, ww = min(side, h), min(side, w)
    y, x = _align_down((h - wh) // 2, align), _align_down((w - ww) // 2, align)
    one, z1 = _window(*_first(cond, z), y, x, wh, ww)
    peak = 0

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal peak
        peak = max(peak, _nbytes(inputs) + _nbytes(output))

    leaves = [m for m in generator.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        out = run(one, z1)
    finally:
        for handle in handles:
            handle.remove()
    peak = max(peak, _nbytes(out) + _nbytes(one.named_tensors()))
    scale = (Fraction(out.shape[-2], wh), Fraction(out.shape[-1], ww))
    probe = Probe(SAFETY * peak / (wh * ww), scale)
    cache[key] = probe
    return probe


def measure_margin(
    run: Run,
    generator: nn.Module,
    cond: Condition,
    z: Tensor | None,
    align: int,
    scale: tuple[Fraction, Fraction],
    side: int,
) -> int | None:
    """Context (input pixels) a tile needs so that what it keeps equals the untiled output within
    EXACT_TOL. The generator runs on a `side` x `side` window of noise shaped like sample 0 (a
    real window may be flat, a black border, and hide how far the field reaches) and on its
    top-left and bottom-right parts; the margin is the farthest distance from a cut at which the
    outputs differ. Both corners, because strided layers see a tile's two sides differently.
    None when the difference reaches across a whole part (a field wider than the window).
    Cached per generator and layout."""
    cache = _PROBES.setdefault(generator, {})
    key = ("margin", _layout(cond, z), align, side)
    if key in cache:
        return cache[key]
    h, w = reference(cond).shape[-2:]  # type: ignore[union-attr]
    side = min(side, _align_down(h, align), _align_down(w, align))
    cut = _align_down(side // 2, align)
    part = side - cut
    result: int | None = None
    if cut >= align and part >= align:
        y, x = _align_down((h - side) // 2, align), _align_down((w - side) // 2, align)
        window = _noise(*_window(*_first(cond, z), y, x, side, side, scale))
        full = run(*window).float()
        found = [_cut_reach(run, *window, full, corner, part, scale) for corner in (0, cut)]
        result = None if None in found else max(found)  # type: ignore[type-var]
    cache[key] = result
    return result


def _noise(cond: Condition, z: Tensor | None) -> tuple[Condition, Tensor | None]:
    """The same tensors filled with uniform noise in [-1, 1] (a fixed seed: the same every run)."""
    g = torch.Generator().manual_seed(0)

    def fill(t: Tensor) -> Tensor:
        if not t.is_floating_point():
            return t
        return (torch.rand(t.shape, generator=g) * 2 - 1).to(t.device, t.dtype)

    return cond.map(fill), (None if z is None else fill(z))


def _cut_reach(
    run: Run,
    cond: Condition,
    z: Tensor | None,
    full: Tensor,
    corner: int,
    part: int,
    scale: tuple[Fraction, Fraction],
) -> int | None:
    """How far (input pixels) from its cut edges the output of the window's `part` x `part` part
    at (corner, corner) differs from `full` (the whole window's output) by more than EXACT_TOL:
    corner 0 is the top-left part (cut at its bottom and right), else the bottom-right part (cut
    at its top and left). None when the difference reaches across the whole part."""
    from dataclasses import replace

    sy, sx = scale
    oh, ow = int(part * sy), int(part * sx)
    oy, ox = int(corner * sy), int(corner * sx)
    hw = reference(cond).shape[-2:]  # type: ignore[union-attr]

    def cut(t: Tensor) -> Tensor:
        if t.dim() == 4 and t.shape[-2:] == hw:
            return t[..., corner : corner + part, corner : corner + part]
        return t

    small_cond = replace(cond, previous=None).map(cut)
    if cond.previous is not None:
        small_cond = replace(small_cond, previous=cond.previous[..., oy : oy + oh, ox : ox + ow])
    small = run(small_cond, None if z is None else cut(z)).float()
    if small.shape[-2:] != (oh, ow) or full.shape[-2:] != (int(hw[0] * sy), int(hw[1] * sx)):
        raise _Inconsistent("the generator's output is not its input times a fixed scale")
    diff = (full[..., oy : oy + oh, ox : ox + ow] - small).abs().amax(dim=(0, 1)).cpu()
    rows = torch.arange(oh, dtype=torch.float64).view(-1, 1) / float(sy)  # distance to the top
    cols = torch.arange(ow, dtype=torch.float64).view(1, -1) / float(sx)
    if corner == 0:  # cut at the bottom and the right
        rows, cols = rows.flip(0), cols.flip(1)
    bad = torch.minimum(rows, cols)[diff > EXACT_TOL]
    if bad.numel() == 0:
        return 0
    if float(bad.max()) >= part - 1:
        return None
    return math.floor(float(bad.max())) + 1


class _Inconsistent(Exception):
    """A probe showed the generator cannot be tiled (output size not proportional to the input)."""


# ---- the grid ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    """Tiles along one axis (input pixels): every tile is `size` long, starting at `starts`."""

    length: int
    size: int
    starts: tuple[int, ...]


def plan_axis(length: int, count: int, overlap: int, align: int) -> Axis | None:
    """`count` tiles over `length`, each overlapping the next by at least `overlap`, origins and size
    multiples of `align`, the first at 0 and the last ending at `length`; the smallest such size.
    None when `count` tiles cannot all be needed (fewer do) or none fits."""
    if count == 1:
        return Axis(length, length, (0,))
    # rounding each origin to the alignment moves it by up to align / 2: room for that up front
    size = _align_up(-(-(length + (count - 1) * (overlap + align)) // count), align)
    while size < length:
        span = length - size
        starts = tuple(round(i * span / (count - 1) / align) * align for i in range(count))
        if all(0 < b - a <= size - overlap for a, b in pairwise(starts)):
            return Axis(length, size, starts)
        size += align
    return None


def _fewest(length: int, max_size: int, overlap: int, align: int) -> Axis | None:
    """The axis with the fewest tiles of at most `max_size`; None when no tile that small works."""
    if length <= max_size:
        return Axis(length, length, (0,))
    step = overlap + align
    if max_size < step + align:
        return None
    count = max(2, -(-(length - step) // (max_size - step)))
    for n in range(max(2, count - 1), count + 8):
        axis = plan_axis(length, n, overlap, align)
        if axis is not None and axis.size <= max_size:
            return axis
    return None


def plan_grid(
    height: int,
    width: int,
    *,
    overlap: int,
    align: int,
    max_area: float | None = None,
    max_side: int | None = None,
) -> tuple[Axis, Axis]:
    """The tile grid with the least total work (sum of tile areas) whose tiles are at most
    `max_area` pixels and `max_side` on a side; when none is that small, the smallest tiles that
    still make progress (overlap + align on a side; `plan` refuses such a budget instead). Tiles need not be square: a 960x540 input
    under a budget of 131k pixels gets 2 x 3 tiles of about 300 x 360, not 6 squares of 362."""
    floor = overlap + align
    cap = max_side if max_side is not None else max(height, width)
    if max_area is not None and max_area < floor * floor:
        cap = 0  # nothing fits: fall through to the smallest tiles
    best: tuple[int, Axis, Axis] | None = None
    # fewer row tiles than this leave rows too tall for even the narrowest column tiles
    tallest = cap if max_area is None else min(cap, int(max_area // floor))
    first = 1 if tallest >= height else max(2, -(-(height - overlap) // max(1, tallest - overlap)) - 1)
    for count in range(first, height // align + 2):
        if cap < floor and not (height <= cap and width <= cap):
            break
        rows = plan_axis(height, count, overlap, align)
        if rows is None or rows.size > cap:
            continue
        if best is not None and (height + (count - 1) * overlap) * width >= best[0]:
            break  # more rows only add work from here on
        room = cap if max_area is None else min(cap, int(max_area // rows.size))
        cols = _fewest(width, room, overlap, align)
        if cols is not None:
            work = rows.size * len(rows.starts) * cols.size * len(cols.starts)
            if best is None or work < best[0]:
                best = (work, rows, cols)
        if rows.size <= floor:
            break
    if best is None:  # over budget whatever the grid: the smallest tiles that make progress
        return _fixed(height, floor, overlap, align), _fixed(width, floor, overlap, align)
    return best[1], best[2]


def _fixed(length: int, size: int, overlap: int, align: int) -> Axis:
    """Tiles of `size` (aligned) every `size - overlap` pixels, the last one ending at `length`."""
    size = min(length, _align_up(size, align))
    if size >= length:
        return Axis(length, length, (0,))
    step = max(align, _align_down(size - overlap, align))
    return Axis(length, size, (*range(0, length - size, step), length - size))


@dataclass(frozen=True)
class TilePlan:
    """How one generate call is tiled: the grid (input pixels), the context margin, the blend ramp,
    the output scale per axis, and whether the margin covers the receptive field (exact)."""

    rows: Axis
    cols: Axis
    margin: int
    ramp: int
    scale: tuple[Fraction, Fraction]
    exact: bool

    @property
    def count(self) -> int:
        return len(self.rows.starts) * len(self.cols.starts)


def axis_weights(axis: Axis, margin: int, ramp: int, scale: Fraction) -> list[Tensor]:
    """Each tile's blend weight along one axis, in output pixels, normalised to sum to one.

    A tile's weight is 0 over the `margin` pixels next to an inner edge (not an image border),
    rises along a raised cosine over `ramp` pixels, and is 1 in between."""
    size, length = int(axis.size * scale), int(axis.length * scale)
    m, r = int(margin * scale), max(1, int(ramp * scale))
    up = 0.5 - 0.5 * torch.cos(torch.arange(1, r + 1, dtype=torch.float64) * math.pi / (r + 1))
    edge = torch.cat([torch.zeros(m, dtype=torch.float64), up, torch.ones(max(0, size), dtype=torch.float64)])
    edge = edge[:size]  # weight by distance from an inner edge
    last = len(axis.starts) - 1
    raw = []
    for i in range(len(axis.starts)):
        w = torch.ones(size, dtype=torch.float64)
        if i > 0:
            w = torch.minimum(w, edge)
        if i < last:
            w = torch.minimum(w, edge.flip(0))
        raw.append(w)
    offsets = [int(start * scale) for start in axis.starts]
    total = torch.zeros(length, dtype=torch.float64)
    for o, w in zip(offsets, raw):
        total[o : o + size] += w
    if bool((total <= 0).any()):  # plan_axis keeps neighbours overlapping by more than 2 margins
        raise AssertionError("tile weights leave a gap")
    return [(w / total[o : o + size]).float() for o, w in zip(offsets, raw)]


# ---- planning and running ------------------------------------------------------------------------
def _alignment(multiple: int, scale: tuple[Fraction, Fraction]) -> int:
    """Origins and sizes must be multiples of the size multiple and give whole output boxes."""
    return math.lcm(max(1, multiple), scale[0].denominator, scale[1].denominator)


def plan(
    run: Run,
    generator: nn.Module,
    cond: Condition,
    z: Tensor | None,
    settings: TileSettings | None = None,
    *,
    multiple: int = 1,
    device: torch.device | str = "cpu",
    modality_tileable: bool = True,
) -> TilePlan | None:
    """The tiling of this call, or None to run it whole: tiling is off, not possible (`refusal`),
    or not needed (the whole input fits the budget, or one tile would cover it)."""
    settings = settings or TileSettings()
    if settings.tile == 0 or refusal(generator, cond, z, modality_tileable) is not None:
        return None
    ref = reference(cond)
    assert ref is not None
    batch, (h, w) = ref.shape[0], ref.shape[-2:]
    if settings.tile is None and settings.max_memory is None and h * w <= AUTO_MIN_PIXELS:
        return None
    if settings.tile is not None and h <= settings.tile and w <= settings.tile:
        return None
    try:
        probe = measure(run, generator, cond, z, max(1, multiple))
        align = _alignment(multiple, probe.scale)
        budget = settings.max_memory or default_budget(device)
        max_area = budget / (probe.bytes_per_pixel * batch)
        if settings.tile is None and h * w <= max_area:
            return None
        margin = settings.margin
        exact = margin is not None
        if margin is None:
            window = min(
                _align_up(_MARGIN_WINDOW, align),
                _align_down(int(math.sqrt(budget / probe.bytes_per_pixel)), align),
            )
            measured = measure_margin(run, generator, cond, z, align, probe.scale, window)
            exact = measured is not None and measured <= MAX_MARGIN
            margin = MAX_MARGIN if measured is None else min(measured, MAX_MARGIN)
            if not exact and settings.tile is None and settings.max_memory is None:
                whole = uncapped_budget(device) / (probe.bytes_per_pixel * batch)
                if h * w <= whole:  # tiles would change the output and redo their overlaps:
                    return None  # only worth it when the whole input does not fit
    except _Inconsistent:
        return None
    overlap = 2 * margin + RAMP
    if settings.tile is not None:
        side = _align_down(settings.tile, align)
        if side < overlap + align:
            raise I2IError(
                f"--tile {settings.tile}: tiles of this model must be larger than their overlap "
                f"({overlap} input pixels, aligned to {align}): give at least {_align_up(overlap + align, align)}"
            )
        rows, cols = plan_grid(h, w, overlap=overlap, align=align, max_side=side)
    else:
        floor = _align_up(overlap + align, align)
        if max_area < floor * floor:
            need = floor * floor * probe.bytes_per_pixel * batch
            raise I2IError(
                f"--max-memory {budget / 2**20:.0f}M: the smallest tiles this model can use "
                f"({floor}x{floor} input pixels, batch {batch}) need about {need / 2**20:.0f}M"
            )
        rows, cols = plan_grid(h, w, overlap=overlap, align=align, max_area=max_area)
    if len(rows.starts) == len(cols.starts) == 1:
        return None
    return TilePlan(rows, cols, margin, RAMP, probe.scale, exact)


def run_tiled(run: Run, cond: Condition, z: Tensor | None, tiles: TilePlan) -> Tensor:
    """Generate tile by tile and blend into one (B,C,H*sy,W*sx) float tensor on the CPU."""
    from dataclasses import replace

    ref = reference(cond)
    assert ref is not None
    hw = ref.shape[-2:]
    sy, sx = tiles.scale
    out_h, out_w = int(hw[0] * sy), int(hw[1] * sx)
    previous = cond.previous
    if previous is not None and previous.shape[-2:] != (out_h, out_w):
        from i2i.temporal import match_size

        previous = match_size(previous, (out_h, out_w))
    base = replace(cond, previous=None)
    wy = axis_weights(tiles.rows, tiles.margin, tiles.ramp, sy)
    wx = axis_weights(tiles.cols, tiles.margin, tiles.ramp, sx)
    th, tw = tiles.rows.size, tiles.cols.size
    oth, otw = int(th * sy), int(tw * sx)
    out: Tensor | None = None
    for y, row_w in zip(tiles.rows.starts, wy):
        for x, col_w in zip(tiles.cols.starts, wx):

            def cut(t: Tensor, y: int = y, x: int = x) -> Tensor:
                return t[..., y : y + th, x : x + tw] if t.dim() == 4 and t.shape[-2:] == hw else t

            part = base.map(cut)
            oy, ox = int(y * sy), int(x * sx)
            if previous is not None:
                part = replace(part, previous=previous[..., oy : oy + oth, ox : ox + otw])
            tile = run(part, None if z is None else cut(z)).float().cpu()
            if tile.shape[-2:] != (oth, otw):
                raise I2IError(
                    f"tiling: a {th}x{tw} tile gave a {tile.shape[-2]}x{tile.shape[-1]} output, not "
                    f"{oth}x{otw}; run with --tile 0"
                )
            if out is None:
                out = torch.zeros(tile.shape[0], tile.shape[1], out_h, out_w)
            out[..., oy : oy + oth, ox : ox + otw].addcmul_(tile, row_w.view(-1, 1) * col_w.view(1, -1))
            del tile, part
    assert out is not None
    return out
