"""face2img networks: a refinement generator on top of the warping prior, steered by an identity
embedding (AdaIN), and a projection discriminator on (image, landmark sketch).

The generator sees the driving sketch (`parts["sketch"]`) and the portrait already moved there by
the thin-plate spline (`parts["warped"]`). It outputs an image and a soft mask, and the result is mask * warp + (1 - mask) * image:
where the warp is right (skin, hair, background of any real face) the mask lets it through, and
the network only paints what motion uncovers or the warp cannot do (an opening mouth, closing
eyelids). The identity embedding of the portrait(s) scales and shifts every decoder layer
(AdaIN, as few-shot talking-head models do), so painted pixels match the person.

The discriminator is projection-style (Miyato & Koyama 2018) made spatial: patch features of the
image are scored alone and by their inner product with features of the sketch at the same place,
which asks "is this a real face" and "does it match these landmarks here" with one network.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.interfaces import Condition, Discriminator, DOutput, Generator
from i2i.nets.film import Affine
from i2i.nets.init import init_weights
from i2i.nets.norm import maybe_spectral

SKETCH = 3  # channels of the landmark sketch


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 4, 2, 1), nn.InstanceNorm2d(c_out, affine=True), nn.LeakyReLU(0.2)
    )


class _AdaUp(nn.Module):
    """Upsample, conv, parameter-free instance norm, identity-driven scale and shift, ReLU."""

    def __init__(self, c_in: int, c_out: int, id_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm = nn.InstanceNorm2d(c_out, affine=False)
        self.style = Affine(id_dim, c_out)

    def forward(self, x: Tensor, identity: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.relu(self.style(self.norm(self.conv(x)), identity))


class IdentityEncoder(nn.Module):
    """Portrait -> identity embedding: strided convs, global average pool, a linear layer. Several
    portraits of one person give the mean embedding (few-shot)."""

    def __init__(self, id_dim: int = 128, ngf: int = 32, levels: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, ngf, 3, 1, 1), nn.LeakyReLU(0.2)]
        width = ngf
        for _ in range(levels):
            layers.append(_down(width, min(width * 2, ngf * 8)))
            width = min(width * 2, ngf * 8)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, id_dim)

    def forward(self, portraits: Tensor) -> Tensor:
        """(B, K, 3, H, W) -> (B, id_dim)."""
        b, k = portraits.shape[:2]
        features = self.body(portraits.flatten(0, 1)).mean((2, 3))
        return self.head(features).view(b, k, -1).mean(1)


class TalkingHeadGenerator(Generator):
    """Condition(parts={sketch, warped portrait}, vector=identity) -> face; no noise."""

    def __init__(self, ngf: int = 32, levels: int = 4, id_dim: int = 128) -> None:
        super().__init__()
        self.levels = levels
        widths = [min(ngf * 2**i, ngf * 8) for i in range(levels + 1)]
        self.stem = nn.Sequential(nn.Conv2d(SKETCH + 3, ngf, 3, 1, 1), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList(_down(widths[i], widths[i + 1]) for i in range(levels))
        self.ups = nn.ModuleList(
            _AdaUp(widths[i + 1] * (1 if i == levels - 1 else 2), widths[i], id_dim)
            for i in reversed(range(levels))
        )
        self.head = nn.Conv2d(ngf * 2, 4, 3, 1, 1)
        for part in (self.stem, self.downs, self.head, *(up.conv for up in self.ups)):
            init_weights(part, "normal")  # not the AdaIN layers: they start as the identity

    @property
    def size_multiple(self) -> int:
        return 2**self.levels

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        if not {"sketch", "warped"} <= cond.parts.keys() or cond.vector is None:
            raise ValueError("the face2img generator needs parts sketch and warped, and an identity vector")
        warped = cond.parts["warped"]
        x = self.stem(torch.cat([cond.parts["sketch"], warped], 1))
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        skips.pop()
        for up in self.ups:
            x = up(x, cond.vector)
            x = torch.cat([x, skips.pop()], 1)
        out = self.head(x)
        image, mask = torch.tanh(out[:, :3]), torch.sigmoid(out[:, 3:])
        return mask * warped + (1 - mask) * image


class _Projection(nn.Module):
    """One scale: image trunk phi, sketch trunk psi, logits = w . phi + <phi, psi> per patch."""

    def __init__(self, ndf: int, n_layers: int) -> None:
        super().__init__()

        def trunk(c_in: int) -> nn.ModuleList:
            layers, width = [], c_in
            for i in range(n_layers):
                out = min(ndf * 2**i, ndf * 8)
                layers.append(nn.Sequential(nn.Conv2d(width, out, 4, 2, 1), nn.LeakyReLU(0.2)))
                width = out
            return nn.ModuleList(layers)

        self.image = trunk(3)
        self.sketch = trunk(SKETCH)
        width = min(ndf * 2 ** (n_layers - 1), ndf * 8)
        self.linear = nn.Conv2d(width, 1, 3, 1, 1)
        self.scale = 1 / math.sqrt(width)

    def forward(self, image: Tensor, sketch: Tensor) -> DOutput:
        features = []
        x, s = image, sketch
        for layer_x, layer_s in zip(self.image, self.sketch):
            x, s = layer_x(x), layer_s(s)
            features.append(x)
        logits = self.linear(x) + (x * s).sum(1, keepdim=True) * self.scale
        return DOutput(logits, features)


class ProjectionDiscriminator(Discriminator):
    """Multi-scale spatial projection discriminator on (image, driving sketch)."""

    def __init__(self, ndf: int = 32, n_layers: int = 4, num_scales: int = 2, spectral: bool = True) -> None:
        super().__init__()
        self.scales = nn.ModuleList(_Projection(ndf, n_layers) for _ in range(num_scales))
        init_weights(self, "normal")
        maybe_spectral(self, spectral)

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        if "sketch" not in cond.parts:
            raise ValueError("the face2img discriminator needs parts['sketch']")
        sketch = cond.parts["sketch"].to(image.dtype)
        outs = []
        for k, scale in enumerate(self.scales):
            if k:
                image = F.avg_pool2d(image, 3, 2, 1, count_include_pad=False)
                sketch = F.avg_pool2d(sketch, 3, 2, 1, count_include_pad=False)
            outs.append(scale(image, sketch))
        return outs


def talking_head(ngf: int = 32, levels: int = 4, id_dim: int = 128) -> TalkingHeadGenerator:
    return TalkingHeadGenerator(ngf, levels, id_dim)


def projection_patchgan(
    ndf: int = 32, n_layers: int = 4, num_scales: int = 2, spectral: bool = True
) -> ProjectionDiscriminator:
    return ProjectionDiscriminator(ndf, n_layers, num_scales, spectral)
