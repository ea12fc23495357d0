"""Label map -> Condition: one-hot classes + an instance-edge channel as maps, and a style code.

The generator input of SPADE and pix2pixHD is built by `semantic_input` (one-hot classes, an
optional don't-care channel, an optional instance-edge channel from `boundaries`), usable on its
own by any network that takes that layout.

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

from i2i.errors import ConfigError, InputError
from i2i.interfaces import Condition, Conditioner
from i2i_seg2img.labels import IGNORE_INDEX, ClassList, colorize, preset, to_ids
from i2i_seg2img.nets import StyleEncoder, reparameterize


def one_hot(ids: Tensor, num_classes: int) -> Tensor:
    """(B,H,W) ids -> (B,K,H,W) float; ignored (or any out-of-range) pixels get all zeros."""
    valid = (ids >= 0) & (ids < num_classes)
    hot = F.one_hot(torch.where(valid, ids, torch.zeros_like(ids)), num_classes).permute(0, 3, 1, 2)
    return hot.float() * valid[:, None].float()


def boundaries(ids: Tensor) -> Tensor:
    """(B,H,W) ids -> (B,1,H,W) float, 1 where a 4-neighbour has another id (pix2pixHD's and SPADE's
    `get_edges` of an instance map: both pixels of every unequal horizontal or vertical pair)."""
    edge = torch.zeros_like(ids, dtype=torch.bool)
    dx = ids[:, :, 1:] != ids[:, :, :-1]
    dy = ids[:, 1:, :] != ids[:, :-1, :]
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    edge[:, 1:, :] |= dy
    edge[:, :-1, :] |= dy
    return edge[:, None].float()


def semantic_input(
    ids: Tensor,
    num_classes: int,
    *,
    dontcare: bool = False,
    ignore_index: int = IGNORE_INDEX,
    edges: Tensor | None = None,
) -> Tensor:
    """(B,H,W) class ids -> SPADE's / pix2pixHD's generator input (B, K [+1] [+1], H, W) float:
    one-hot of the K classes, then (`dontcare`) the don't-care channel that is 1 where the id is
    `ignore_index` (the originals' `contain_dontcare_label`: label 255 read as class K), then
    `edges` (B,1,H,W) when given (their instance-edge channel, e.g. `boundaries(instance_ids)`).

    Without `dontcare`, ignored pixels have all-zero one-hot columns. Ids outside 0..K-1 and not
    the ignore index are the caller's to reject (`i2i_seg2img.labels.to_ids` does)."""
    parts = [one_hot(ids, num_classes)]
    if dontcare:
        parts.append((ids == ignore_index)[:, None].float())
    if edges is not None:
        parts.append(edges.float())
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def resize_ids(ids: Tensor, size: tuple[int, int]) -> Tensor:
    """(..., H, W) integer ids -> (..., h, w) by nearest neighbour as PIL's `Image.NEAREST` picks
    it (the source pixel under each output pixel's centre), in integers, so large instance ids
    stay exact; the originals resize their label and instance maps this way before one-hot."""
    h, w = ids.shape[-2:]
    if (h, w) == tuple(size):
        return ids
    rows = (
        ((torch.arange(size[0], dtype=torch.float64) + 0.5) * (h / size[0])).floor().long().clamp(max=h - 1)
    )
    cols = (
        ((torch.arange(size[1], dtype=torch.float64) + 0.5) * (w / size[1])).floor().long().clamp(max=w - 1)
    )
    return ids[..., rows[:, None], cols[None, :]]


class SegConditioner(Conditioner):
    def __init__(
        self,
        num_classes: int = 10,
        ignore_index: int = IGNORE_INDEX,
        instance_edges: bool = True,
        style_dim: int = 64,
        encoder_ngf: int = 32,
        kl_weight: float | None = None,
        dontcare_channel: bool = False,
        edge_channel: bool = True,
        style_image: bool = False,
        classes: str | None = None,
        size: list[int] | None = None,
    ) -> None:
        """kl_weight: accepted so model files written before loss terms load; the weight of the
        style code's KL is now the `kl` loss term's (``loss.generator.kl``).

        For generators in the layout of the original SPADE (`spade_nvlabs`, whose importer sets these):
        dontcare_channel: an extra channel for the ignore index (SPADE's contain_dontcare_label).
        edge_channel: whether the edge channel exists at all (False: SPADE's --no_instance).
        style_image: the generator owns the style encoder: the style photo (`--style`, or the
            real photo while training) goes to it as `Condition.refs` instead of a code here.
        classes: a label preset (`i2i_seg2img.labels.PRESETS`): class colours and the data set's
            index-map convention (ADE20K's value 0 = don't care, class i stored as i+1).
        size: [H, W] the model works at; label and instance maps of another size are resized
            (nearest, as PIL) by `prepare`, as the original's test-time transforms do.
        """
        super().__init__()
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.instance_edges = bool(instance_edges)
        self.dontcare_channel = bool(dontcare_channel)
        self.edge_channel = bool(edge_channel)
        self.style_image = bool(style_image)
        self.classes: ClassList | None = _preset_for(classes, self.num_classes)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.encoder = StyleEncoder(style_dim, encoder_ngf) if style_dim else None
        self.register_buffer("palette", torch.full((self.num_classes, 3), -1, dtype=torch.int64))
        if self.classes is not None:
            self.palette.copy_(torch.tensor(self.classes.colors, dtype=torch.int64))

    @property
    def channels(self) -> int:
        """Channels of `Condition.maps`: what a generator or discriminator of this condition takes."""
        return self.num_classes + int(self.dontcare_channel) + int(self.edge_channel)

    def _edges(self, batch: Mapping[str, Any], ids: Tensor) -> Tensor | None:
        if not self.edge_channel:
            return None
        if not self.instance_edges:
            return ids.new_zeros(ids.shape[0], 1, *ids.shape[1:]).float()
        instances = batch.get("instances")
        return boundaries(instances if instances is not None and bool(instances.any()) else ids)

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        ids = batch["labels"].long()
        if self.training and "palette" in batch and bool((self.palette < 0).any()):
            self.palette.copy_(batch["palette"][0])
        maps = semantic_input(
            ids,
            self.num_classes,
            dontcare=self.dontcare_channel,
            ignore_index=self.ignore_index,
            edges=self._edges(batch, ids),
        )
        if self.style_image:
            refs = batch["target"] if self.training and "target" in batch else batch.get("style")
            return Condition(maps=maps, refs=refs)
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
        ids = to_ids(
            inputs["labels"],
            self.num_classes,
            self.palette,
            self.ignore_index,
            "--labels",
            lossy,
            self.classes,
        )
        out: dict[str, Any] = {"labels": ids}
        instances = inputs.get("instances")
        if instances is not None:
            if instances.shape[0] != 1 or instances.shape[1:] != ids.shape:
                problem = (
                    f"instance ids {tuple(instances.shape[1:])} do not match the label map {tuple(ids.shape)}"
                )
                raise InputError("--instances", problem)
            out["instances"] = instances[0]
        if self.size is not None:
            out = {k: resize_ids(v, self.size) for k, v in out.items()}
        style = inputs.get("style")
        if style is not None:
            if self.style_image:
                out["style"] = style  # the generator's own encoder resizes it (as the original's)
            elif self.encoder is None:
                raise InputError("--style", "this model has no style encoder (trained with style_dim 0)")
            else:
                size = (self.encoder.size, self.encoder.size)
                out["style"] = F.interpolate(style[None], size=size, mode="bilinear", align_corners=False)[0]
        return out

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        palette = self.palette if bool((self.palette >= 0).all()) else _fallback_palette(self.num_classes)
        return colorize(batch["labels"].long(), palette.to(batch["labels"].device))


def _preset_for(name: str | None, num_classes: int) -> ClassList | None:
    if name is None:
        return None
    try:
        classes = preset(name)
    except ValueError as exc:
        raise ConfigError(f"model.conditioner.classes: {exc}") from None
    if len(classes) != num_classes:
        raise ConfigError(
            f"model.conditioner.classes: preset {name!r} has {len(classes)} classes, not num_classes {num_classes}"
        )
    return classes


def _fallback_palette(n: int) -> Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3), generator=g)
