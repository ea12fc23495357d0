"""The pix2pix U-Net generator: an encoder-decoder whose skip connections carry fine detail.

pix2pix builds this network as nested "skip connection blocks". The same computation is written
here as a flat encoder and decoder (readable parameter names, ``encoder.3.conv.weight``), level for
level identical to the original:

    level 0 (outermost)   down: Conv4x4/2                       up: ReLU, ConvT4x4/2 (bias), Tanh
    level i (middle)      down: LeakyReLU(0.2), Conv4x4/2, Norm  up: ReLU, ConvT4x4/2, Norm [, Dropout]
    level n-1 (innermost) down: LeakyReLU(0.2), Conv4x4/2        up: ReLU, ConvT4x4/2, Norm

Channels double from ngf up to ngf*8 and stay there; ``num_downs`` halvings means the input side
must be divisible by 2**num_downs (7 for 128x128 "unet_128", 8 for 256x256 "unet_256"). Dropout
(0.5), pix2pix's only source of noise, sits in the middle levels that are ngf*8 wide on both sides.

The skip connection carries the LeakyReLU-activated encoder feature (the original activates in
place, so that is what it concatenates). Since every concatenation is followed by a ReLU, this is
numerically the same as skipping the raw feature, and it keeps a single tensor alive per level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.nets.norm import check_norm, conv_bias, norm_layer


class _Down(nn.Module):
    """One encoder step: stride-2 4x4 convolution then (except at the ends) a norm."""

    def __init__(self, in_ch: int, out_ch: int, norm: str, bias: bool, with_norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1, bias=bias)
        self.norm = norm_layer(norm, out_ch) if with_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


class _Up(nn.Module):
    """One decoder step: stride-2 4x4 transposed convolution, norm, optional dropout."""

    def __init__(
        self, in_ch: int, out_ch: int, norm: str, bias: bool, with_norm: bool, dropout: bool
    ) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1, bias=bias)
        self.norm = norm_layer(norm, out_ch) if with_norm else nn.Identity()
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.norm(self.conv(x)))


def unet_channels(num_downs: int, ngf: int) -> list[int]:
    """Feature width after each encoder level: ngf, 2ngf, 4ngf, then 8ngf to the bottleneck."""
    return [ngf * min(2**i, 8) for i in range(num_downs)]


class UNet(nn.Module):
    """pix2pix U-Net: (B, in_channels, H, W) in any range -> (B, out_channels, H, W) in [-1, 1].

    num_downs: number of stride-2 levels (>= 5); H and W must be divisible by 2**num_downs.
    norm: "batch" | "instance" | "none". dropout: Dropout(0.5) in the ngf*8 middle levels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = True,
    ) -> None:
        super().__init__()
        check_norm(norm)
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5 (pix2pix's fixed outer levels); got {num_downs}")
        self.num_downs = num_downs
        bias = conv_bias(norm)
        ch = unet_channels(num_downs, ngf)
        last = num_downs - 1

        encoder = [_Down(in_channels, ch[0], norm, bias, with_norm=False)]
        for i in range(1, num_downs):
            encoder.append(_Down(ch[i - 1], ch[i], norm, bias, with_norm=i != last))
        self.encoder = nn.ModuleList(encoder)

        # decoder[i] undoes encoder[i]; every level but the innermost sees [skip, inner] concatenated.
        decoder = [_Up(2 * ch[0], out_channels, norm, bias=True, with_norm=False, dropout=False)]
        for i in range(1, num_downs):
            in_ch = ch[i] if i == last else 2 * ch[i]
            middle_wide = i != last and ch[i - 1] == ch[i] == 8 * ngf
            decoder.append(_Up(in_ch, ch[i - 1], norm, bias, with_norm=True, dropout=dropout and middle_wide))
        self.decoder = nn.ModuleList(decoder)

    def forward(self, x: Tensor) -> Tensor:
        factor = 2**self.num_downs
        if x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(
                f"U-Net with num_downs={self.num_downs} needs H and W divisible by {factor}; "
                f"got {tuple(x.shape[-2:])}"
            )
        h = self.encoder[0](x)
        skips: list[Tensor] = []
        for down in self.encoder[1:]:
            h = F.leaky_relu(h, 0.2)
            skips.append(h)
            h = down(h)
        for i in range(self.num_downs - 1, 0, -1):
            h = self.decoder[i](F.relu(h))
            h = torch.cat([skips[i - 1], h], dim=1)
        return torch.tanh(self.decoder[0](F.relu(h)))
