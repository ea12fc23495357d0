"""The pix2pix/CycleGAN ResNet generator, with an optional super-resolution tail.

Layout (defaults reproduce pix2pix's ``resnet_9blocks`` / ``resnet_6blocks`` exactly, so their
checkpoints load):

    stem      ReflectionPad(3), Conv7x7, Norm, ReLU                       -> ngf
    down      `downsample` x [Conv3x3/2, Norm, ReLU]                      -> ngf * 2**downsample
    blocks    `n_blocks` x residual [Pad, Conv3x3, Norm, ReLU, (Dropout), Pad, Conv3x3, Norm]
    up        `downsample` x [ConvT3x3/2 (output_padding=1), Norm, ReLU]  -> ngf
    upscale   log2(upscale) x [Conv3x3 -> 4*ngf, PixelShuffle(2), ReLU]    (only when upscale > 1)
    head      ReflectionPad(3), Conv7x7 (bias), Tanh

Residual blocks keep the resolution and learn a correction, which suits translations that change
style more than geometry (CycleGAN). With ``upscale`` 2 or 4 the output is that many times larger
than the input (sub-pixel convolution, which avoids the checkerboard artefacts of transposed
convolutions); ``downsample=0`` then keeps all blocks at full input resolution, as SR nets do.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import pairwise

from torch import Tensor, nn

from i2i.nets.norm import check_norm, conv_bias, norm_layer

UPSCALE_FACTORS = (1, 2, 4)


class ResnetBlock(nn.Module):
    """x + F(x), F = two reflection-padded 3x3 convolutions with a norm each (dropout between)."""

    def __init__(self, channels: int, norm: str, dropout: bool) -> None:
        super().__init__()
        bias = conv_bias(norm)
        self.pad1 = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, bias=bias)
        self.norm1 = norm_layer(norm, channels)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()
        self.pad2 = nn.ReflectionPad2d(1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, bias=bias)
        self.norm2 = norm_layer(norm, channels)

    def forward(self, x: Tensor) -> Tensor:
        h = self.dropout(self.act(self.norm1(self.conv1(self.pad1(x)))))
        return x + self.norm2(self.conv2(self.pad2(h)))


def _stage(conv: nn.Module, norm: str, channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(conv=conv, norm=norm_layer(norm, channels), act=nn.ReLU()))


class ResnetGenerator(nn.Module):
    """(B, in_channels, H, W) -> (B, out_channels, H*upscale, W*upscale) in [-1, 1].

    H and W must be divisible by 2**downsample. norm: "batch" | "instance" | "none".
    dropout: Dropout(0.5) inside each residual block (pix2pix's --netG resnet_* default).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_blocks: int = 9,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = False,
        upscale: int = 1,
        downsample: int = 2,
    ) -> None:
        super().__init__()
        check_norm(norm)
        if upscale not in UPSCALE_FACTORS:
            raise ValueError(f"upscale must be one of {UPSCALE_FACTORS}; got {upscale}")
        if downsample < 0 or n_blocks < 0:
            raise ValueError(f"downsample and n_blocks must be >= 0; got {downsample} and {n_blocks}")
        self.downsample = downsample
        bias = conv_bias(norm)

        self.stem = nn.Sequential(
            OrderedDict(
                pad=nn.ReflectionPad2d(3),
                conv=nn.Conv2d(in_channels, ngf, kernel_size=7, bias=bias),
                norm=norm_layer(norm, ngf),
                act=nn.ReLU(),
            )
        )
        widths = [ngf * 2**i for i in range(downsample + 1)]  # ngf, 2ngf, 4ngf ...
        self.down = nn.Sequential()
        for c_in, c_out in pairwise(widths):
            conv = nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1, bias=bias)
            self.down.append(_stage(conv, norm, c_out))
        self.blocks = nn.Sequential(*(ResnetBlock(widths[-1], norm, dropout) for _ in range(n_blocks)))
        self.up = nn.Sequential()
        for c_in, c_out in pairwise(reversed(widths)):
            conv = nn.ConvTranspose2d(
                c_in, c_out, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias
            )
            self.up.append(_stage(conv, norm, c_out))
        self.upscale = nn.Sequential()
        for _ in range(upscale.bit_length() - 1):
            self.upscale.append(
                nn.Sequential(
                    OrderedDict(
                        conv=nn.Conv2d(ngf, 4 * ngf, kernel_size=3, padding=1),
                        shuffle=nn.PixelShuffle(2),
                        act=nn.ReLU(),
                    )
                )
            )
        self.head = nn.Sequential(
            OrderedDict(
                pad=nn.ReflectionPad2d(3),
                conv=nn.Conv2d(ngf, out_channels, kernel_size=7),
                act=nn.Tanh(),
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        factor = 2**self.downsample
        if x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(
                f"ResNet generator with downsample={self.downsample} needs H and W divisible by {factor}; "
                f"got {tuple(x.shape[-2:])}"
            )
        h = self.up(self.blocks(self.down(self.stem(x))))
        return self.head(self.upscale(h))
