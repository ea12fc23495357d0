"""PatchGAN discriminators: real/fake verdicts per overlapping patch, single- or multi-scale.

A PatchGAN classifies each N x N patch instead of the whole image, which penalises local texture
errors (the L1 loss already handles low frequencies) with few parameters and works at any size.
The layout is pix2pix's "NLayerDiscriminator":

    Conv4x4/2, LeakyReLU(0.2)                                 -> ndf
    (n_layers - 1) x [Conv4x4/2, Norm, LeakyReLU(0.2)]        -> ndf * min(2**n, 8)
    Conv4x4/1, Norm, LeakyReLU(0.2)                           -> ndf * min(2**n_layers, 8)
    Conv4x4/1                                                 -> 1 logit per patch

With n_layers=3 each logit sees a 70x70 patch and a 256x256 input gives 30x30 logits. The
activations after each LeakyReLU are returned as well, for feature-matching losses (pix2pixHD).
The multi-scale form runs independent PatchGANs on the input average-pooled 0, 1, 2 ... times,
so coarse scales judge global structure and the finest judges texture.
"""

from __future__ import annotations

from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn

from i2i.nets.norm import check_norm, conv_bias, maybe_spectral, norm_layer


def _layer(in_ch: int, out_ch: int, stride: int, norm: str | None) -> nn.Sequential:
    """Conv4x4 [+ norm] + LeakyReLU(0.2). `norm` None means no norm and a bias (the first layer)."""
    bias = True if norm is None else conv_bias(norm)
    parts: OrderedDict[str, nn.Module] = OrderedDict(
        conv=nn.Conv2d(in_ch, out_ch, kernel_size=4, stride=stride, padding=1, bias=bias)
    )
    if norm is not None:
        parts["norm"] = norm_layer(norm, out_ch)
    # Not in place: the activation is also kept as a feature for feature matching.
    parts["act"] = nn.LeakyReLU(0.2)
    return nn.Sequential(parts)


class PatchGAN(nn.Module):
    """(B, in_channels, H, W) -> (logits (B, 1, h, w), [activation after each hidden layer]).

    spectral: spectral normalisation on every convolution (then norm="none" is the usual pairing).
    """

    def __init__(
        self,
        in_channels: int,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        spectral: bool = False,
    ) -> None:
        super().__init__()
        check_norm(norm)
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1; got {n_layers}")
        layers = [_layer(in_channels, ndf, stride=2, norm=None)]
        width = ndf
        for n in range(1, n_layers):
            layers.append(_layer(width, ndf * min(2**n, 8), stride=2, norm=norm))
            width = ndf * min(2**n, 8)
        layers.append(_layer(width, ndf * min(2**n_layers, 8), stride=1, norm=norm))
        width = ndf * min(2**n_layers, 8)
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Conv2d(width, 1, kernel_size=4, stride=1, padding=1)
        maybe_spectral(self, spectral)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        features: list[Tensor] = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return self.classifier(x), features


class MultiScalePatchGAN(nn.Module):
    """`num_scales` independent PatchGANs; scale k sees the input average-pooled k times.

    Downsampling is AvgPool2d(3, stride 2, padding 1, count_include_pad=False) as in pix2pixHD, so
    borders are averaged over real pixels only. Returns one (logits, features) pair per scale,
    finest first.
    """

    def __init__(
        self,
        in_channels: int,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        spectral: bool = False,
        num_scales: int = 1,
    ) -> None:
        super().__init__()
        if num_scales < 1:
            raise ValueError(f"num_scales must be at least 1; got {num_scales}")
        self.scales = nn.ModuleList(
            PatchGAN(in_channels, ndf=ndf, n_layers=n_layers, norm=norm, spectral=spectral)
            for _ in range(num_scales)
        )

    def forward(self, x: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        outputs = []
        for k, disc in enumerate(self.scales):
            if k > 0:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            outputs.append(disc(x))
        return outputs
