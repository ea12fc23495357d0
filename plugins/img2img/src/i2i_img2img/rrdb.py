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

Inference speed: a dense block convolves the growing concatenation [x, x1, ..., x4]. Evaluated as
written that is five thin convolutions (32 output channels) over inputs re-copied by each `cat`.
The same sums can be formed by convolving each new piece once with the slices of all later
layers' weights stacked along their outputs (one wide convolution per piece, no concatenation);
`RRDBNet.fast = True` selects that path in eval mode. It is the same arithmetic in another order
(measured max difference ~1e-6 on [0, 1]) and keeps the original weights, but it was not measurably
faster on this CPU (benchmarks/bench_esrgan.py times both), so it is off by default; what is on in
eval mode is channels_last (about 2x on 64-96 px inputs here, best-of times).
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
        for conv in convs[:4]:
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), SLOPE))
        return convs[4](torch.cat(feats, 1)) * RESIDUAL + x

    def forward_fast(self, x: Tensor) -> Tensor:
        """The same block without concatenation: piece p (x, x1, .., x4) is convolved once with the
        input-channel slice p of every later layer's weights, stacked along the outputs; each
        layer's pre-activation is the sum of its slices' results (biases go with piece 0)."""
        convs = self.convs()
        outs = [c.out_channels for c in convs]
        ends = [self.nf + k * self.gc for k in range(5)]  # piece p holds input channels [start, end)
        starts = [0, *ends[:-1]]
        pending: list[Tensor | None] = [None] * 5
        piece = x
        for p in range(5):
            later = convs[p:]
            weight = torch.cat([c.weight[:, starts[p] : ends[p]] for c in later], 0)
            bias = torch.cat([c.bias for c in later]) if p == 0 else None
            parts = F.conv2d(piece, weight, bias, padding=1).split(outs[p:], 1)
            for k, part in zip(range(p, 5), parts):
                pending[k] = part if pending[k] is None else pending[k] + part
            if p < 4:
                piece = F.leaky_relu(pending[p], SLOPE)  # output p+1 is complete now
        out = pending[4]
        assert out is not None
        return out * RESIDUAL + x


class RRDB(nn.Module):
    """Three dense blocks inside a residual connection (scaled by 0.2)."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc)

    def forward(self, x: Tensor, fast: bool = False) -> Tensor:
        out = x
        for block in (self.RDB1, self.RDB2, self.RDB3):
            out = block.forward_fast(out) if fast else block(out)
        return out * RESIDUAL + x


class Trunk(nn.Module):
    """`nb` RRDBs and a convolution, added to the trunk's input (the original's ShortcutBlock)."""

    def __init__(self, nf: int, nb: int, gc: int) -> None:
        super().__init__()
        self.sub = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)], _conv(nf, nf))

    def forward(self, x: Tensor, fast: bool = False) -> Tensor:
        out = x
        for block in self.sub[:-1]:
            out = block(out, fast)
        return x + self.sub[-1](out)


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
        self.fast = False  # eval mode only: the concatenation-free dense blocks (see module docstring)

    def forward(self, x: Tensor) -> Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        first, trunk, *rest = self.model
        out = trunk(first(x), self.fast and not self.training)
        for layer in rest:
            out = layer(out)
        return out


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
