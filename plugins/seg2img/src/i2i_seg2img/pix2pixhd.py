"""pix2pixHD's generators (Wang et al. 2018) as an i2i network: ``pix2pixhd``.

Two forms, named as pix2pixHD's ``--netG`` names them:

- ``global`` (G1, the "global generator"): a ResNet encoder-decoder at the input resolution,

      stem   ReflectionPad(3), Conv7x7, Norm, ReLU                         -> ngf
      down   n_downsample_global x [Conv3x3/2, Norm, ReLU]                 -> ngf * 2**n
      blocks n_blocks_global x residual [Pad, Conv3x3, Norm, ReLU, Pad, Conv3x3, Norm]
      up     n_downsample_global x [ConvT3x3/2, Norm, ReLU]                -> ngf
      head   ReflectionPad(3), Conv7x7, Tanh

- ``local`` (G2, "local enhancers"): the global generator without its head runs on the input
  average-pooled ``n_local_enhancers`` times; each enhancer then works one octave finer, adding
  its own downsampled features of the finer input to the coarser result before its residual
  blocks and upsampling. With ``ngf`` the outermost (finest) width, the global stage has
  ``ngf * 2**n_local_enhancers`` filters, as in the original.

Unlike the pix2pix ResNet, every convolution has a bias, with either norm; "instance" norm has no
affine parameters or statistics, "batch" norm has both (the original's ``--norm``).

Input: seg2img's condition maps, ``num_classes`` one-hot channels plus one instance-edge channel.
A model trained with ``--no_instance`` (``instance: false``) reads only the one-hot channels. The
generator takes no noise: pix2pixHD's variety comes from its instance feature encoder, which this
network does not include (see docs/zoo/pix2pixhd.md).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Discriminator, DOutput, Generator

NETG_KINDS = ("global", "local")
NORMS = ("instance", "batch")


BATCH_NORM_STATS = ("input", "running")


class BatchNorm(nn.BatchNorm2d):
    """Batch norm whose eval mode can normalise with each image's own statistics.

    pix2pixHD's test.py never calls eval(), so its batch-norm models generate with the statistics
    of the test image (batch 1), not the running averages. `stats="input"` reproduces that per
    image (the same as train-mode batch norm at batch 1, and independent of batch companions at
    larger batches; group_norm with a group per channel computes it); "running" is PyTorch's
    usual eval mode. Training mode is plain batch norm.
    """

    def __init__(self, channels: int, stats: str = "input") -> None:
        super().__init__(channels, affine=True, track_running_stats=True)
        self.stats = stats

    def forward(self, x: Tensor) -> Tensor:
        if self.training or self.stats == "running":
            return super().forward(x)
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)


class InstanceNorm(nn.Module):
    """The original's InstanceNorm2d(affine=False): each channel of each image normalised over
    its pixels. Computed as group_norm with one group per channel, the same numbers (biased
    variance, eps 1e-5) but 2-3x faster than instance_norm on the CPU with PyTorch 2.14, where
    norms are about a fifth of this generator's time (benchmarks/bench_pix2pixhd.py)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.channels, eps=self.eps)


def _norm(kind: str, channels: int) -> nn.Module:
    """The original's --norm: "batch" (affine, running statistics) or "instance" (neither)."""
    if kind == "batch":
        return BatchNorm(channels)
    return InstanceNorm(channels)


def _stage(conv: nn.Module, norm: str, channels: int) -> nn.Sequential:
    """conv -> norm -> ReLU, the unit every down- and upsampling step is made of."""
    return nn.Sequential(OrderedDict(conv=conv, norm=_norm(norm, channels), act=nn.ReLU(inplace=True)))


def _stem(in_channels: int, channels: int, norm: str) -> nn.Sequential:
    """The 7x7 reflection-padded entry convolution (wide receptive field at full resolution)."""
    return nn.Sequential(
        OrderedDict(
            pad=nn.ReflectionPad2d(3),
            conv=nn.Conv2d(in_channels, channels, kernel_size=7),
            norm=_norm(norm, channels),
            act=nn.ReLU(inplace=True),
        )
    )


def _down(c_in: int, c_out: int, norm: str) -> nn.Sequential:
    return _stage(nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1), norm, c_out)


def _up(c_in: int, c_out: int, norm: str) -> nn.Sequential:
    conv = nn.ConvTranspose2d(c_in, c_out, kernel_size=3, stride=2, padding=1, output_padding=1)
    return _stage(conv, norm, c_out)


def _head(channels: int, out_channels: int) -> nn.Sequential:
    conv = nn.Conv2d(channels, out_channels, kernel_size=7)
    return nn.Sequential(OrderedDict(pad=nn.ReflectionPad2d(3), conv=conv, act=nn.Tanh()))


class ResBlock(nn.Module):
    """x + F(x), F = two reflection-padded 3x3 convolutions (with biases) and a norm each."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.pad1 = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3)
        self.norm1 = _norm(norm, channels)
        self.act = nn.ReLU(inplace=True)
        self.pad2 = nn.ReflectionPad2d(1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3)
        self.norm2 = _norm(norm, channels)

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.norm1(self.conv1(self.pad1(x))))
        return x + self.norm2(self.conv2(self.pad2(h)))


class GlobalNet(nn.Module):
    """pix2pixHD's global generator; without a head (`out_channels` 0) it is the trunk of the
    local form, returning ngf-wide features for the first enhancer."""

    def __init__(
        self, in_channels: int, out_channels: int, ngf: int, n_downsample: int, n_blocks: int, norm: str
    ) -> None:
        super().__init__()
        widths = [ngf * 2**i for i in range(n_downsample + 1)]
        self.stem = _stem(in_channels, ngf, norm)
        self.down = nn.Sequential(*(_down(widths[i], widths[i + 1], norm) for i in range(n_downsample)))
        self.blocks = nn.Sequential(*(ResBlock(widths[-1], norm) for _ in range(n_blocks)))
        self.up = nn.Sequential(*(_up(widths[i + 1], widths[i], norm) for i in reversed(range(n_downsample))))
        self.head = _head(ngf, out_channels) if out_channels else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.up(self.blocks(self.down(self.stem(x)))))


class Enhancer(nn.Module):
    """One local enhancer at width `ngf`: the finer input is encoded (`stem`, `down`) to the
    coarser stage's width and resolution, added to that stage's output, then refined (`blocks`)
    and upsampled (`up`); the last (finest) enhancer also has the image head."""

    def __init__(self, in_channels: int, out_channels: int, ngf: int, n_blocks: int, norm: str) -> None:
        super().__init__()
        self.stem = _stem(in_channels, ngf, norm)
        self.down = _down(ngf, 2 * ngf, norm)
        self.blocks = nn.Sequential(*(ResBlock(2 * ngf, norm) for _ in range(n_blocks)))
        self.up = _up(2 * ngf, ngf, norm)
        self.head = _head(ngf, out_channels) if out_channels else nn.Identity()

    def forward(self, x: Tensor, coarse: Tensor) -> Tensor:
        return self.head(self.up(self.blocks(self.down(self.stem(x)) + coarse)))


def _pool(x: Tensor) -> Tensor:
    """One octave down, borders averaged over real pixels only (the original's AvgPool2d)."""
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)


class Pix2PixHDGenerator(Generator):
    """Condition(maps = one-hot labels + instance edges) -> photo in [-1, 1]; no noise."""

    noise_dim = 0

    def __init__(
        self,
        num_classes: int,
        instance: bool = True,
        netG: str = "global",
        ngf: int = 64,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
        norm: str = "instance",
        out_channels: int = 3,
        batch_norm_stats: str = "input",
    ) -> None:
        super().__init__()
        if batch_norm_stats not in BATCH_NORM_STATS:
            raise ValueError(f"batch_norm_stats must be input or running; got {batch_norm_stats!r}")
        if netG not in NETG_KINDS:
            raise ValueError(f"netG must be one of {', '.join(NETG_KINDS)}; got {netG!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
        if min(num_classes, ngf) < 1 or min(n_downsample_global, n_blocks_global, n_blocks_local) < 0:
            raise ValueError("num_classes and ngf must be >= 1, downsampling and block counts >= 0")
        n_local = n_local_enhancers if netG == "local" else 0
        if netG == "local" and n_local < 1:
            raise ValueError(f"netG local needs n_local_enhancers >= 1; got {n_local_enhancers}")
        self.in_channels = num_classes + int(instance)
        self.n_local = n_local
        self.downsample = n_downsample_global
        trunk_out = 0 if n_local else out_channels
        self.global_net = GlobalNet(
            self.in_channels, trunk_out, ngf * 2**n_local, n_downsample_global, n_blocks_global, norm
        )
        # enhancers[0] is the coarsest (the original's model1_*), enhancers[-1] the finest.
        self.enhancers = nn.ModuleList(
            Enhancer(
                self.in_channels,
                out_channels if n == n_local else 0,
                ngf * 2 ** (n_local - n),
                n_blocks_local,
                norm,
            )
            for n in range(1, n_local + 1)
        )
        for module in self.modules():
            if isinstance(module, BatchNorm):
                module.stats = batch_norm_stats

    @property
    def size_multiple(self) -> int:
        """H and W must be multiples of this (every pooling and stride-2 step halves them)."""
        return 2 ** (self.downsample + self.n_local)

    @property
    def tileable(self) -> bool:
        """Instance norm and input-statistics batch norm see the whole image: not cut into tiles
        (`i2i.tiling`); with running batch-norm statistics the network is local."""
        return not any(
            isinstance(m, InstanceNorm) or (isinstance(m, BatchNorm) and m.stats == "input")
            for m in self.modules()
        )

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        maps = cond.maps
        if maps is None or maps.shape[1] < self.in_channels:
            got = "no maps" if maps is None else f"{maps.shape[1]} channels"
            raise ValueError(f"pix2pixHD generator needs {self.in_channels} condition channels; got {got}")
        x = maps[:, : self.in_channels]  # --no_instance models skip the edge channel
        pyramid = [x]
        for _ in range(self.n_local):
            pyramid.append(_pool(pyramid[-1]))
        out = self.global_net(pyramid[-1])
        for n, enhancer in enumerate(self.enhancers, start=1):
            out = enhancer(pyramid[self.n_local - n], out)
        return out


def pix2pixhd(
    num_classes: int,
    instance: bool = True,
    netG: str = "global",
    ngf: int = 64,
    n_downsample_global: int = 4,
    n_blocks_global: int = 9,
    n_local_enhancers: int = 1,
    n_blocks_local: int = 3,
    norm: str = "instance",
    batch_norm_stats: str = "input",
    init: str = "normal",
) -> Pix2PixHDGenerator:
    """pix2pixHD generator for `num_classes` label classes; the keys are the original's options
    (``--netG --ngf --n_downsample_global --n_blocks_global --n_local_enhancers --n_blocks_local
    --norm``; ``instance`` is ``not --no_instance``). `batch_norm_stats`: what batch norm uses at
    inference, each image's own statistics ("input", as pix2pixHD's test.py) or the running
    averages ("running"). `init`: "normal" draws pix2pixHD's initial
    weights (convolutions N(0, 0.02), batch-norm scales N(1, 0.02)); "default" keeps PyTorch's
    (the importer's choice: its weights replace them anyway)."""
    net = Pix2PixHDGenerator(
        num_classes,
        instance,
        netG,
        ngf,
        n_downsample_global,
        n_blocks_global,
        n_local_enhancers,
        n_blocks_local,
        norm,
        batch_norm_stats=batch_norm_stats,
    )
    if init == "normal":
        net.apply(_pix2pixhd_init)
    elif init != "default":
        raise ValueError(f"init must be normal or default; got {init!r}")
    return net


def _pix2pixhd_init(module: nn.Module) -> None:
    """The original's weights_init: conv weights N(0, 0.02) (biases as PyTorch made them), batch
    norm scale N(1, 0.02) and shift 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ---- discriminator ---------------------------------------------------------------------------
class PatchNet(nn.Module):
    """pix2pixHD's NLayerDiscriminator: 4x4 convolutions padded by 2 (so the logits grid is a
    little larger than pix2pix's), widths doubling up to 512, a bias on every convolution.
    Returns (logits, [activation after each hidden layer]) for feature matching."""

    def __init__(self, in_channels: int, ndf: int, n_layers: int, norm: str) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.2)
        layers = [nn.Sequential(OrderedDict(conv=nn.Conv2d(in_channels, ndf, 4, 2, 2), act=act))]
        width = ndf
        for n in range(1, n_layers + 1):
            stride = 2 if n < n_layers else 1
            nxt = min(width * 2, 512)
            conv = nn.Conv2d(width, nxt, 4, stride, 2)
            layers.append(nn.Sequential(OrderedDict(conv=conv, norm=_norm(norm, nxt), act=act)))
            width = nxt
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Conv2d(width, 1, 4, 1, 2)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return self.classifier(x), features


class Pix2PixHDDiscriminator(Discriminator):
    """pix2pixHD's MultiscaleDiscriminator (with --no_ganFeat_loss off: features returned):
    `num_D` PatchNets on [label maps, image], scale k on the pair average-pooled k times."""

    def __init__(
        self,
        num_classes: int,
        instance: bool = True,
        ndf: int = 64,
        n_layers: int = 3,
        num_D: int = 3,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
        if min(num_D, n_layers, ndf) < 1:
            raise ValueError("num_D, n_layers and ndf must be >= 1")
        self.cond_channels = num_classes + int(instance)
        self.scales = nn.ModuleList(
            PatchNet(self.cond_channels + 3, ndf, n_layers, norm) for _ in range(num_D)
        )

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        if cond.maps is None or cond.maps.shape[1] < self.cond_channels:
            raise ValueError(f"pix2pixHD discriminator needs {self.cond_channels} condition channels")
        x = torch.cat([cond.maps[:, : self.cond_channels].to(image.dtype), image], dim=1)
        outputs = []
        for k, net in enumerate(self.scales):
            if k:
                x = _pool(x)
            outputs.append(DOutput(*net(x)))
        return outputs


def pix2pixhd_multiscale(
    num_classes: int,
    instance: bool = True,
    ndf: int = 64,
    n_layers: int = 3,
    num_D: int = 3,
    norm: str = "instance",
    init: str = "normal",
) -> Pix2PixHDDiscriminator:
    """pix2pixHD's multi-scale discriminator (``--ndf --n_layers_D --num_D --norm``)."""
    net = Pix2PixHDDiscriminator(num_classes, instance, ndf, n_layers, num_D, norm)
    if init == "normal":
        net.apply(_pix2pixhd_init)
    elif init != "default":
        raise ValueError(f"init must be normal or default; got {init!r}")
    return net


__all__ = [
    "Enhancer",
    "GlobalNet",
    "PatchNet",
    "Pix2PixHDDiscriminator",
    "Pix2PixHDGenerator",
    "ResBlock",
    "pix2pixhd",
    "pix2pixhd_multiscale",
]
