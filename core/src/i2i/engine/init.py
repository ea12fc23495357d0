"""Start a training run from existing weights (`i2i-train --init SRC`, config key `train.init`).

Fine-tuning a published checkpoint is the usual first training run. The weights decide the
architecture and the data conventions the model was trained with (an x4 upscaler wants x4 pairs,
a label-map model its number of classes), so those come from the checkpoint; a preset such as
`--config spade` still supplies the losses, optimisers and schedule, and may change data settings
such as crop sizes. SRC is anything `i2i-run --checkpoint` accepts for the plugin: an i2i model
file, a run directory, or a foreign checkpoint one of the plugin's importers understands.

The discriminator is not imported: published checkpoints rarely ship one and a new data set
needs its own anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from i2i.config import defaults_for

if TYPE_CHECKING:
    from torch import Tensor

    from i2i.modality import Modality

IMPORTED_SECTIONS = ("generator", "conditioner")  # model sections the weights decide


def init_from(source: str, modality: Modality) -> tuple[dict[str, Any], dict[str, dict[str, Tensor]]]:
    """(config override, weights per network name) of the checkpoint `source`.

    The override holds the imported model sections, the data keys whose values differ from the
    plugin's defaults, and `train.init` (so the run records where it started); pass it to
    `i2i.config.load_config(..., imported=override)`.
    """
    from i2i.pipeline import load_pipeline

    pipe = load_pipeline(source, plugin=modality.name, device="cpu")
    found = pipe.config.to_dict()
    default_data = defaults_for(modality).get("data", {})
    data = {k: v for k, v in found.get("data", {}).items() if k in default_data and default_data[k] != v}
    model = {k: v for k, v in found.get("model", {}).items() if k in IMPORTED_SECTIONS}
    override = {"model": model, "data": data, "train": {"init": str(source)}}
    states = {
        "generator": {k: v.detach().clone() for k, v in pipe.generator.state_dict().items()},
        "conditioner": {k: v.detach().clone() for k, v in pipe.conditioner.state_dict().items()},
    }
    return override, states


__all__ = ["IMPORTED_SECTIONS", "init_from"]
