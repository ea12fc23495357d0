"""seg2img's config validator (`Modality.validate_config`): one line before training instead of a
shape error after the first batch.

The width of `Condition.maps` is the conditioner's (num_classes, + a don't-care channel, + the
edge channel); the generator and the discriminator must read that width. They can disagree when
a checkpoint decides the generator and the conditioner (``i2i-train --init``, e.g. an original
SPADE model with a don't-care label) while the discriminator comes from a config written for
i2i's own layout. SPADE's generator in the original's layout also fixes its output size with the
VAE, and needs crops that divide by its upsampling factor without it.

Imports no torch: it runs before the engine is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from i2i.errors import ConfigError

UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}  # as i2i_seg2img.spade_nvlabs


def condition_channels(conditioner: Mapping[str, Any]) -> int:
    """Channels of the semantic input the conditioner section builds."""
    return (
        int(conditioner.get("num_classes", 0))
        + int(bool(conditioner.get("dontcare_channel", False)))
        + int(bool(conditioner.get("edge_channel", True)))
    )


def validate(config: Mapping[str, Any]) -> None:
    model = config["model"]
    channels = condition_channels(model["conditioner"])
    disc = model.get("discriminator") or {}
    if disc.get("name") == "spade_patchgan":
        reads = disc.get("cond_channels")
        reads = int(disc["num_classes"]) + 1 if reads is None else int(reads)
        if reads != channels:
            raise ConfigError(
                f"model.discriminator.cond_channels: the discriminator reads {reads} condition channels but the "
                f"conditioner makes {channels}: --set model.discriminator.cond_channels={channels} (or train an "
                "original SPADE checkpoint with --config spade)"
            )
    gen = model.get("generator") or {}
    if gen.get("name") != "spade_nvlabs":
        return
    if int(gen["label_channels"]) != channels:
        raise ConfigError(
            f"model.generator.label_channels: the generator reads {gen['label_channels']} channels but the "
            f"conditioner makes {channels} (num_classes, dontcare_channel, edge_channel)"
        )
    data = config.get("data") or {}
    if data.get("resize_mode") == "none" or gen.get("num_upsampling_layers") not in UPSAMPLINGS:
        return  # sizes are the files' own; the factory names a bad upsampling mode
    crop = int(data.get("crop_size", 0))
    factor = 2 ** UPSAMPLINGS[gen["num_upsampling_layers"]]
    if gen.get("use_vae"):
        sw = int(gen["crop_size"]) // factor
        sh = round(sw / float(gen["aspect_ratio"]))
        if (sh * factor, sw * factor) != (crop, crop):
            raise ConfigError(
                f"data.crop_size: with use_vae the generator always makes {sw * factor}x{sh * factor} images "
                f"(its crop_size and aspect_ratio), not {crop}x{crop} crops: train on images of that size "
                "with --set data.resize_mode=none"
            )
    elif crop % factor:
        raise ConfigError(
            f"data.crop_size: {crop} is not a multiple of {factor}, which {gen['num_upsampling_layers']!r} "
            "upsampling needs"
        )
