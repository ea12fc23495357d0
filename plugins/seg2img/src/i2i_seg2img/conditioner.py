"""Label map -> Condition: one-hot classes + an instance-edge channel as maps, and a style code.

Style (the VAE of SPADE): while training, the style encoder codes the real photo and the generator
must rebuild it from (labels, code), with a KL term keeping codes close to N(0, 1); so at inference
N(0, 1) noise gives new plausible styles, and an example photo's code (`--style`) gives its style.

The class colours arrive with the training samples and are kept as a buffer, so they are saved in
the model file: a colour-coded label map then works at inference without the data directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from i2i.errors import InputError
from i2i.interfaces import Condition, Conditioner
from i2i_seg2img.labels import IGNORE_INDEX, colorize, to_ids
from i2i_seg2img.nets import StyleEncoder, reparameterize


def one_hot(ids: Tensor, num_classes: int) -> Tensor:
    """(B,H,W) ids -> (B,K,H,W) float; ignored (or any out-of-range) pixels get all zeros."""
    valid = (ids >= 0) & (ids < num_classes)
    hot = F.one_hot(torch.where(valid, ids, torch.zeros_like(ids)), num_classes).permute(0, 3, 1, 2)
    return hot.float() * valid[:, None].float()


def boundaries(ids: Tensor) -> Tensor:
    """(B,H,W) ids -> (B,1,H,W) float, 1 where a 4-neighbour has another id (pix2pixHD's edge map)."""
    edge = torch.zeros_like(ids, dtype=torch.bool)
    dx = ids[:, :, 1:] != ids[:, :, :-1]
    dy = ids[:, 1:, :] != ids[:, :-1, :]
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    edge[:, 1:, :] |= dy
    edge[:, :-1, :] |= dy
    return edge[:, None].float()


class SegConditioner(Conditioner):
    def __init__(
        self,
        num_classes: int = 10,
        ignore_index: int = IGNORE_INDEX,
        instance_edges: bool = True,
        style_dim: int = 64,
        encoder_ngf: int = 32,
        kl_weight: float | None = None,
    ) -> None:
        """kl_weight: accepted so model files written before loss terms load; the weight of the
        style code's KL is now the `kl` loss term's (``loss.generator.kl``)."""
        super().__init__()
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.instance_edges = bool(instance_edges)
        self.encoder = StyleEncoder(style_dim, encoder_ngf) if style_dim else None
        self.register_buffer("palette", torch.full((self.num_classes, 3), -1, dtype=torch.int64))

    def _edges(self, batch: Mapping[str, Any], ids: Tensor) -> Tensor:
        if not self.instance_edges:
            return ids.new_zeros(ids.shape[0], 1, *ids.shape[1:]).float()
        instances = batch.get("instances")
        return boundaries(instances if instances is not None and bool(instances.any()) else ids)

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        ids = batch["labels"].long()
        if self.training and "palette" in batch and bool((self.palette < 0).any()):
            self.palette.copy_(batch["palette"][0])
        maps = torch.cat([one_hot(ids, self.num_classes), self._edges(batch, ids)], dim=1)
        vector = None
        if self.encoder is not None:
            if self.training and "target" in batch:
                mu, logvar = self.encoder(batch["target"])
                # the posterior travels with this condition to the `kl` loss term (Condition.aux)
                return Condition(
                    maps=maps, vector=reparameterize(mu, logvar), aux={"mu": mu, "logvar": logvar}
                )
            if "style" in batch:
                vector = self.encoder(batch["style"])[0]
        return Condition(maps=maps, vector=vector)

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        lossy = bool(inputs.get("video_frame"))
        ids = to_ids(inputs["labels"], self.num_classes, self.palette, self.ignore_index, "--labels", lossy)
        out: dict[str, Any] = {"labels": ids}
        instances = inputs.get("instances")
        if instances is not None:
            if instances.shape[0] != 1 or instances.shape[1:] != ids.shape:
                problem = (
                    f"instance ids {tuple(instances.shape[1:])} do not match the label map {tuple(ids.shape)}"
                )
                raise InputError("--instances", problem)
            out["instances"] = instances[0]
        style = inputs.get("style")
        if style is not None:
            if self.encoder is None:
                raise InputError("--style", "this model has no style encoder (trained with style_dim 0)")
            size = (self.encoder.size, self.encoder.size)
            out["style"] = F.interpolate(style[None], size=size, mode="bilinear", align_corners=False)[0]
        return out

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        palette = self.palette if bool((self.palette >= 0).all()) else _fallback_palette(self.num_classes)
        return colorize(batch["labels"].long(), palette.to(batch["labels"].device))


def _fallback_palette(n: int) -> Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3), generator=g)
