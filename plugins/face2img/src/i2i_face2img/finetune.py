"""Few-shot fine-tuning on the given portraits (`i2i-run --finetune-steps N`).

A model trained on other faces reproduces a new person's identity only as well as its identity
embedding can describe them; few-shot talking-head models close the gap by training briefly on the
portraits themselves (meta-learning's "fine-tuning" stage). With several portraits each is driven
to every other one's landmarks and must become that portrait (self-reenactment with real ground
truth); a single portrait is also paired with its mirror image. Only L1 is used: no discriminator
ships in the model file, and a few dozen steps of reconstruction are what this stage is for. The
steps run through the engine (`i2i.engine.adapt.fine_tune`: its loss terms, Adam, NaN guard);
`--finetune-steps` is a typed input the core checks (an int from 0 to 2000).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from i2i.engine.adapt import fine_tune
from i2i_face2img.data import sketch_tensor
from i2i_face2img.landmarks import flip


def pairs_batch(portraits: list[torch.Tensor], points: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """Every portrait driven to every portrait's landmarks (itself included), plus mirrors when
    there is only one: (portrait, its landmarks, driving landmarks, sketch, all portraits, target)."""
    images, marks = list(portraits), [np.asarray(p, np.float32) for p in points]
    if len(images) == 1:
        images.append(images[0].flip(-1))
        marks.append(flip(marks[0], images[0].shape[-1]))
    size = images[0].shape[-1]
    rows = [(i, j) for i in range(len(images)) for j in range(len(images))]
    everyone = torch.stack(list(portraits))
    return {
        "portrait": torch.stack([images[i] for i, _ in rows]),
        "portrait_points": torch.from_numpy(np.stack([marks[i] for i, _ in rows])),
        "driving_points": torch.from_numpy(np.stack([marks[j] for _, j in rows])),
        "sketch": torch.stack([sketch_tensor(marks[j], size) for _, j in rows]),
        "portraits": everyone[None].expand(len(rows), *everyone.shape),
        "target": torch.stack([images[j] for _, j in rows]),
    }


def adapt(pipe: Any, inputs: Mapping[str, Any]) -> None:
    """The modality's `adapt` step: fine-tune on the portraits when `--finetune-steps` asks for it."""
    steps = int(inputs.get("finetune_steps") or 0)
    if not steps:
        return
    raw = inputs["portrait"]
    portraits = [
        p.expand(3, -1, -1) if p.shape[0] == 1 else p for p in (raw if isinstance(raw, list) else [raw])
    ]
    backend = str(inputs.get("landmarks") or pipe.conditioner.backend)
    points = pipe.reader.portrait_points(inputs, portraits, backend)
    fine_tune(pipe, pairs_batch(portraits, points), steps, loss={"l1": 1.0}, lr=1e-4)
