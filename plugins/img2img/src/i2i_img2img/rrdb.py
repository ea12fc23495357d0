"""ESRGAN's RRDB network (Residual-in-Residual Dense Blocks) as an i2i generator, and Real-ESRGAN's
U-Net discriminator with spectral normalisation.

`RRDBNet` is the network of ESRGAN (Wang et al. 2018) and Real-ESRGAN (Wang et al. 2021) on images
in [0, 1], as those projects run it: a 3x3 convolution, `nb` RRDB blocks plus a convolution inside
one long skip, then one (nearest x2 upsample, conv, LeakyReLU) stage per factor of two, an HR
convolution and the output convolution. Real-ESRGAN's x2 and x1 models put a pixel-unshuffle
(space-to-depth) in front, so their trunk still works at a quarter of the output size.

Its parameters are named as in the original ESRGAN release (`model.0`, `model.1.sub.<i>.RDB<j>.conv<k>.0`,
`model.1.sub.<nb>`, `model.3`, ...), which is also the layout spandrel converts every RRDB file to:
imported weights load with a strict `load_state_dict`, no key table.

`RRDBGenerator` wraps it for i2i: i2i images are in [-1, 1], ESRGAN's in [0, 1], so the input is
mapped to [0, 1] and the output back (`2 y - 1`); the pipeline's clamp to [-1, 1] is then exactly
ESRGAN's clamp to [0, 1], and i2i outputs equal the original's.

Inference (eval mode) computes the same network with less memory traffic:
- channels_last and in-place activations and residual sums (no extra copy of each feature map);
- the tail after the trunk (upsampling stages, HR and output convolutions) runs in bands of trunk
  rows, each with the few rows of context its convolutions reach (`tail_halo`), and is written into
  one output: a 2048x2048 output no longer holds three 1 GB feature maps at once. Bands are exact
  (the same sums per output pixel, measured equal to ~1e-7), so outputs match the original's.
The trunk itself cannot be banded exactly (its receptive field spans hundreds of pixels); where
memory is short, `i2i-run --tile` tiles the whole network with blended overlaps instead.
Most of the CPU speed, though, comes from the process: see `i2i.allocator` (freed memory kept for
reuse instead of page-faulted back in for every large feature map).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Discriminator, DOutput, Generator

SLOPE = 0.2  # LeakyReLU slope everywhere in ESRGAN
RESIDUAL = 0.2  # residual scaling of each dense block and each RRDB


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1)


class DenseBlock(nn.Module):
    """ESRGAN's residual dense block: five convolutions, each seeing all earlier outputs."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.nf, self.gc = nf, gc
        for k in range(5):  # conv<k>.0: the original wraps each conv in a Sequential
            layer = nn.Sequential(_conv(nf + k * gc, gc if k < 4 else nf))
            setattr(self, f"conv{k + 1}", layer)

    def convs(self) -> list[nn.Conv2d]:
        return [getattr(self, f"conv{k + 1}")[0] for k in range(5)]

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        convs = self.convs()
        act = F.leaky_relu if self.training else F.leaky_relu_  # eval: conv outputs are fresh
        for conv in convs[:4]:
            feats.append(act(conv(torch.cat(feats, 1)), SLOPE))
        out = convs[4](torch.cat(feats, 1))
        return out * RESIDUAL + x if self.training else out.mul_(RESIDUAL).add_(x)


class RRDB(nn.Module):
    """Three dense blocks inside a residual connection (scaled by 0.2)."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc)

    def forward(self, x: Tensor) -> Tensor:
        out = self.RDB3(self.RDB2(self.RDB1(x)))
        return out * RESIDUAL + x if self.training else out.mul_(RESIDUAL).add_(x)


class Trunk(nn.Module):
    """`nb` RRDBs and a convolution, added to the trunk's input (the original's ShortcutBlock)."""

    def __init__(self, nf: int, nb: int, gc: int) -> None:
        super().__init__()
        self.sub = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)], _conv(nf, nf))

    def forward(self, x: Tensor) -> Tensor:
        out = self.sub(x)
        return x + out if self.training else out.add_(x)


class RRDBNet(nn.Module):
    """ESRGAN's generator on [0, 1] images; `upsample` (a power of two) is its own enlargement,
    `unshuffle` the pixel-unshuffle factor in front (Real-ESRGAN x2: 2, x1: 4)."""

    def __init__(
        self, in_nc: int, out_nc: int, nf: int, nb: int, gc: int, upsample: int, unshuffle: int
    ) -> None:
        super().__init__()
        n_up = round(math.log2(upsample)) if upsample >= 1 else -1
        if n_up < 0 or 2**n_up != upsample:
            raise ValueError(f"RRDBNet upsampling must be a power of two, not {upsample}")
        self.unshuffle = unshuffle
        layers: list[nn.Module] = [_conv(in_nc * unshuffle * unshuffle, nf), Trunk(nf, nb, gc)]
        for _ in range(n_up):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), _conv(nf, nf), nn.LeakyReLU(SLOPE)]
        layers += [_conv(nf, nf), nn.LeakyReLU(SLOPE), _conv(nf, out_nc)]
        self.model = nn.Sequential(*layers)
        self.tail_rows: int | None = None  # trunk rows per tail band in eval (None: from TAIL_BAND_BYTES)

    def forward(self, x: Tensor) -> Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        first, trunk, *tail = self.model
        feat = trunk(first(x))
        if self.training or torch.jit.is_tracing() or torch.compiler.is_compiling():
            for layer in tail:  # exported and compiled graphs keep the plain, shape-generic tail
                feat = layer(feat)
            return feat
        return self._tail_in_bands(feat, tail)

    def tail_halo(self) -> int:
        """Trunk rows of context a band of the tail needs on each side: every 3x3 convolution
        reaches one row further at its own resolution, every upsampling doubles the reach so far."""
        reach, scale = 0, 1
        for layer in self.model[2:]:
            if isinstance(layer, nn.Upsample):
                reach, scale = reach * 2, scale * 2
            elif isinstance(layer, nn.Conv2d):
                reach += layer.padding[0]
        return -(-reach // scale)

    def _tail_in_bands(self, feat: Tensor, tail: list[nn.Module]) -> Tensor:
        n, c, h, w = feat.shape
        halo = self.tail_halo()
        area = (
            2 ** sum(isinstance(layer, nn.Upsample) for layer in tail)
        ) ** 2  # tail pixels per trunk pixel
        rows = self.tail_rows or max(1, TAIL_BAND_BYTES // (c * w * feat.element_size() * area))
        if rows >= h:
            return _run(tail, feat)
        out: Tensor | None = None
        for top in range(0, h, rows):
            bottom = min(h, top + rows)
            lo, hi = max(0, top - halo), min(h, bottom + halo)
            band = _run(tail, feat[:, :, lo:hi])
            s = band.shape[2] // (hi - lo)  # the tail's enlargement
            if out is None:
                shape = (n, band.shape[1], h * s, band.shape[3])
                out = torch.empty(
                    shape, dtype=band.dtype, device=band.device, memory_format=torch.channels_last
                )
            out[:, :, top * s : bottom * s] = band[:, :, (top - lo) * s : (bottom - lo) * s]
        assert out is not None
        return out


TAIL_BAND_BYTES = 64 << 20
"""About the largest feature map one band of the tail allocates (the band's rows are chosen so)."""


def _run(layers: list[nn.Module], x: Tensor) -> Tensor:
    for layer in layers:
        x = F.leaky_relu_(x, SLOPE) if isinstance(layer, nn.LeakyReLU) else layer(x)
    return x


def _init_like_basicsr(net: RRDBNet) -> None:
    """BasicSR's `default_init_weights(..., 0.1)` for the dense blocks' convolutions (Kaiming normal
    scaled by 0.1, zero bias): the small residuals keep a deep trunk stable from the first step.
    The other convolutions keep PyTorch's default, as in BasicSR."""
    for block in net.modules():
        if isinstance(block, DenseBlock):
            for conv in block.convs():
                nn.init.kaiming_normal_(conv.weight)
                conv.weight.data.mul_(0.1)
                nn.init.zeros_(conv.bias)


class RRDBGenerator(Generator):
    """i2i generator around `RRDBNet`: Condition.maps (low-resolution image in [-1, 1]) -> the image
    `scale` times larger, in [-1, 1]. One-channel outputs are repeated to RGB."""

    noise_dim = 0

    def __init__(
        self,
        in_nc: int = 3,
        out_nc: int = 3,
        nf: int = 64,
        nb: int = 23,
        gc: int = 32,
        scale: int = 4,
        unshuffle: int = 1,
    ) -> None:
        super().__init__()
        if unshuffle not in (1, 2, 4):
            raise ValueError(f"rrdb: unshuffle must be 1, 2 or 4, not {unshuffle}")
        if in_nc not in (1, 3) or out_nc not in (1, 3):
            raise ValueError(
                f"rrdb: in_nc and out_nc must be 1 or 3 image channels, not {in_nc} and {out_nc}"
            )
        self.scale = scale
        self.size_multiple = unshuffle  # pixel-unshuffle needs sides divisible by its factor
        self.net = RRDBNet(in_nc, out_nc, nf, nb, gc, scale * unshuffle, unshuffle)

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        x = cond.maps
        if x is None:
            raise ValueError("RRDBGenerator needs Condition.maps (the low-resolution image)")
        x = (x + 1) * 0.5
        if not self.training:  # measured ~1.5-2x faster on CPU in eval (training sets channels_last itself)
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.net(x) * 2 - 1
        return out if out.shape[1] == 3 else out.expand(-1, 3, -1, -1)


def rrdb(
    in_nc: int = 3,
    out_nc: int = 3,
    nf: int = 64,
    nb: int = 23,
    gc: int = 32,
    scale: int = 4,
    unshuffle: int = 1,
) -> RRDBGenerator:
    """ESRGAN / Real-ESRGAN RRDB generator: nf features, nb RRDB blocks, gc growth channels; `scale`
    is output size / input size, `unshuffle` the pixel-unshuffle factor in front (Real-ESRGAN x2plus:
    scale 2, unshuffle 2). Defaults: RealESRGAN_x4plus / ESRGAN x4 (16,697,987 parameters)."""
    gen = RRDBGenerator(in_nc, out_nc, nf, nb, gc, scale, unshuffle)
    _init_like_basicsr(gen.net)
    return gen


# ---- Real-ESRGAN's discriminator -------------------------------------------------------------------
class UNetDiscriminator(Discriminator):
    """Real-ESRGAN's U-Net discriminator (UNetDiscriminatorSN): three stride-2 downsamplings, three
    bilinear upsamplings with skip connections, two more convolutions, one logit per pixel (a
    per-pixel real/fake verdict, which suits texture detail). Spectral normalisation on every
    convolution but the first and the last. Unconditional: it judges the image alone, as in
    Real-ESRGAN; features for feature matching are the activations of each stage."""

    def __init__(
        self, image_channels: int = 3, ndf: int = 64, skip_connection: bool = True, spectral: bool = True
    ) -> None:
        super().__init__()
        from i2i.nets.norm import maybe_spectral

        self.skip = skip_connection

        def sn(cin: int, cout: int, k: int, s: int) -> nn.Conv2d:
            return maybe_spectral(nn.Conv2d(cin, cout, k, s, 1, bias=False), spectral)

        f = ndf
        self.conv0 = nn.Conv2d(image_channels, f, 3, 1, 1)
        self.conv1, self.conv2, self.conv3 = (
            sn(f, 2 * f, 4, 2),
            sn(2 * f, 4 * f, 4, 2),
            sn(4 * f, 8 * f, 4, 2),
        )
        self.conv4, self.conv5, self.conv6 = (
            sn(8 * f, 4 * f, 3, 1),
            sn(4 * f, 2 * f, 3, 1),
            sn(2 * f, f, 3, 1),
        )
        self.conv7, self.conv8 = sn(f, f, 3, 1), sn(f, f, 3, 1)
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        def act(t: Tensor) -> Tensor:
            return F.leaky_relu(t, SLOPE)

        def up(t: Tensor) -> Tensor:
            return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

        x0 = act(self.conv0((image + 1) * 0.5))  # Real-ESRGAN's D sees [0, 1] images
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        feats = [x0, x1, x2, x3]
        out = x3
        for conv, skip in ((self.conv4, x2), (self.conv5, x1), (self.conv6, x0)):
            out = act(conv(up(out)))
            if self.skip:
                out = out + skip
            feats.append(out)
        out = act(self.conv8(act(self.conv7(out))))
        feats.append(out)
        return [DOutput(self.conv9(out), feats)]


def unet_sn(
    image_channels: int = 3, ndf: int = 64, skip_connection: bool = True, spectral: bool = True
) -> UNetDiscriminator:
    """Real-ESRGAN's U-Net discriminator; defaults as Real-ESRGAN x4plus (4,376,897 parameters)."""
    return UNetDiscriminator(image_channels, ndf, skip_connection, spectral)
