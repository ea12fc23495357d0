"""DF-GAN-style networks: one-stage generator whose every block is modulated by the sentence.

Generator: noise -> 4x4 features -> up-blocks to the image size. Each up-block is a residual block
whose two "deep fusion" stages scale and shift every channel from [noise, sentence] (core `Affine`),
so the text steers every resolution (DF-GAN, Tao et al. 2022) instead of only the input.

Optionally (`word_attention: true`), blocks at `attention_min_size` and above also attend to the
caption's token features (AttnGAN's word-context idea, as one masked attention layer whose output
enters through a gain that starts at 0), so a word can steer the region it names (e.g. "beak").

Discriminator: residual down-blocks to 4x4, then the sentence vector is tiled and concatenated
with the features and judged jointly (DF-GAN's conditional head), plus a projection term; so D can
reject a real image given with the wrong caption (the plugin's `mismatch` loss term) and MA-GP can act
on (image, text).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Discriminator, DOutput, Generator
from i2i.nets.film import Affine


def _levels(image_size: int) -> int:
    n = math.log2(image_size / 4)
    if image_size < 8 or n != int(n):
        raise ValueError(f"image_size must be 4 * a power of two (8, 16, ..., 256), not {image_size}")
    return int(n)


LAYOUTS = ("i2i", "original")


def _widths(base: int, levels: int, layout: str = "i2i") -> list[int]:
    """Channel widths from 4x4 up: base*8 at the coarse end halving towards the image, min base.

    "i2i" reaches base one level before the image; "original" is DF-GAN's own NetG layout
    (`nf * min(2**k, 8)`, base only at the image), which published DF-GAN weights need."""
    if layout == "original":
        return [base * min(8, 2 ** (levels - i)) for i in range(levels + 1)]
    if layout != "i2i":
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    return [base * min(8, 2 ** max(0, levels - i - 1)) for i in range(levels + 1)]


class _Fusion(nn.Module):
    """Two affine + LeakyReLU stages (one DF-GAN "DFBlock")."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.a1 = Affine(cond_dim, channels)
        self.a2 = Affine(cond_dim, channels)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        # Affine's x * gamma + beta as one addcmul and the activation in place: these passes over
        # full-resolution features cost as much as the convolutions on a CPU (memory-bound).
        for affine in (self.a1, self.a2):
            scale = affine.gamma(c)[:, :, None, None].to(x.dtype)
            shift = affine.beta(c)[:, :, None, None].to(x.dtype)
            x = F.leaky_relu_(torch.addcmul(shift, x, scale), 0.2)
        return x


class _UpBlock(nn.Module):
    def __init__(self, cond_dim: int, c_in: int, c_out: int) -> None:
        super().__init__()
        self.fuse1 = _Fusion(cond_dim, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.fuse2 = _Fusion(cond_dim, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(self.fuse2(self.conv1(self.fuse1(x, c)), c))
        return self.shortcut(x) + h


class WordAttention(nn.Module):
    """Each pixel gathers the word features it attends to (masked), added as a residual.

    Queries come from the image features, keys and values from layer-normalised token features;
    padding tokens are masked out. The residual gain starts at 0 so a fresh generator is exactly
    the sentence-only DF-GAN and learns how much word context to use.
    """

    def __init__(self, word_dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(word_dim)
        self.query = nn.Conv2d(channels, channels, 1)
        self.key = nn.Linear(word_dim, channels)
        self.value = nn.Linear(word_dim, channels)
        self.out = nn.Conv2d(channels, channels, 1)
        self.gain = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, tokens: Tensor, mask: Tensor) -> Tensor:
        b, c, h, w = x.shape
        words = self.norm(tokens.to(x.dtype))
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        context = F.scaled_dot_product_attention(
            q, self.key(words), self.value(words), attn_mask=mask[:, None, :]
        )
        context = context.transpose(1, 2).reshape(b, c, h, w)
        return x + self.gain * self.out(context.contiguous(memory_format=torch.channels_last))


class DFGenerator(Generator):
    """(Condition.vector (B, cond_dim), z (B, noise_dim)) -> (B, 3, image_size, image_size).

    With `word_attention`, Condition.tokens (B, T, cond_dim) and token_mask (B, T) are used too.
    `layout: original` gives DF-GAN's own channel widths (i2i_text2img.dfgan imports its weights).
    """

    def __init__(
        self,
        cond_dim: int = 384,
        noise_dim: int = 100,
        ngf: int = 32,
        image_size: int = 64,
        word_attention: bool = False,
        attention_min_size: int = 16,
        layout: str = "i2i",
    ) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        levels = _levels(image_size)
        widths = _widths(ngf, levels, layout)
        self.fc = nn.Linear(noise_dim, widths[0] * 16)
        fused = cond_dim + noise_dim
        self.blocks = nn.ModuleList(_UpBlock(fused, widths[i], widths[i + 1]) for i in range(levels))
        sizes = [4 * 2 ** (i + 1) for i in range(levels)]  # each block's output resolution
        self.attention = nn.ModuleDict(
            {
                str(i): WordAttention(cond_dim, widths[i + 1])
                for i in range(levels)
                if word_attention and sizes[i] >= attention_min_size
            }
        )
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(widths[-1], 3, 3, padding=1), nn.Tanh())

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        sentence = cond.vector
        if sentence is None:
            raise ValueError("DFGenerator needs a sentence vector (Condition.vector)")
        if z is None:
            z = torch.zeros(sentence.shape[0], self.noise_dim, device=sentence.device, dtype=sentence.dtype)
        c = torch.cat([z, sentence.to(z.dtype)], dim=1)
        if len(self.attention) and (cond.tokens is None or cond.token_mask is None):
            raise ValueError("DFGenerator with word_attention needs Condition.tokens and token_mask")
        # channels_last from the first convolution on: oneDNN's convolutions are ~1.7x faster in it
        # on a CPU than in NCHW (measured at 256x256, benchmarks/bench_dfgan.py); values within ~1e-6
        x = self.fc(z).view(z.shape[0], -1, 4, 4).contiguous(memory_format=torch.channels_last)
        for i, block in enumerate(self.blocks):
            x = block(x, c)
            if str(i) in self.attention:
                x = self.attention[str(i)](x, cond.tokens, cond.token_mask)
        return self.to_rgb(x)


class _DownBlock(nn.Module):
    """Residual stride-2 block; the residual enters through a learned gain that starts at 0."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.res = nn.Sequential(
            nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c_out, c_out, 3, 1, 1), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.gain = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(self.shortcut(x), 2) + self.gain * self.res(x)


class DFDiscriminator(Discriminator):
    """(image, Condition.vector) -> one logit per image, plus block features for feature matching."""

    def __init__(
        self, cond_dim: int = 384, ndf: int = 32, image_size: int = 64, projection: bool = True
    ) -> None:
        super().__init__()
        levels = _levels(image_size)
        widths = list(reversed(_widths(ndf, levels)))
        self.stem = nn.Conv2d(3, widths[0], 3, 1, 1)
        self.blocks = nn.ModuleList(_DownBlock(widths[i], widths[i + 1]) for i in range(levels))
        self.joint = nn.Sequential(
            nn.Conv2d(widths[-1] + cond_dim, ndf * 2, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0),
        )  # fmt: skip
        # Projection term (Miyato & Koyama 2018): <embed(sentence), pooled features> added to the
        # logit, a direct route for "does this image match this text" that speeds up conditioning.
        self.project = nn.Linear(cond_dim, widths[-1], bias=False) if projection else None

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        if cond.vector is None:
            raise ValueError("DFDiscriminator needs a sentence vector (Condition.vector)")
        x = self.stem(image)
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        c = cond.vector.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        logits = self.joint(torch.cat([x, c], dim=1)).flatten(1)
        if self.project is not None:
            pooled = F.leaky_relu(x, 0.2).mean(dim=(2, 3))
            logits = logits + (self.project(cond.vector.to(x.dtype)) * pooled).sum(1, keepdim=True)
        return [DOutput(logits, features)]
