"""Few-shot fine-tuning on the given portraits (`i2i-run --finetune-steps N`).

A model trained on other faces reproduces a new person's identity only as well as its identity
embedding can describe them; few-shot talking-head models close the gap by training briefly on the
portraits themselves (meta-learning's "fine-tuning" stage). With several portraits each is driven
to every other one's landmarks and must become that portrait (self-reenactment with real ground
truth); a single portrait is also paired with its mirror image. Only L1 is used: no discriminator
ships in the model file, and a few dozen steps of reconstruction are what this stage is for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from i2i.errors import InputError
from i2i_face2img.data import sketch_tensor
from i2i_face2img.landmarks import flip

MAX_STEPS = 2000


def _steps(value: Any) -> int:
    try:
        steps = int(str(value))
    except ValueError:
        steps = -1
    if not 0 <= steps <= MAX_STEPS:
        raise InputError("--finetune-steps", f"must be a whole number from 0 to {MAX_STEPS}, got {value!r}")
    return steps


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


def finetune(pipe: Any, batch: Mapping[str, torch.Tensor], steps: int, lr: float = 1e-4) -> list[float]:
    """`steps` Adam steps of L1 self-reenactment on `batch`; returns the loss before each step."""
    batch = {k: v.to(pipe.device) for k, v in batch.items()}
    params = [*pipe.generator.parameters(), *pipe.conditioner.parameters()]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
    losses = []
    with torch.enable_grad():
        for _ in range(steps):
            fake = pipe.generator(pipe.conditioner(batch))
            loss = (fake - batch["target"]).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    pipe.generator.eval()
    pipe.conditioner.eval()
    return losses


def adapt(pipe: Any, inputs: Mapping[str, Any]) -> None:
    """The modality's `adapt` step: fine-tune on the portraits when `--finetune-steps` asks for it."""
    steps = _steps(inputs.get("finetune_steps") or 0)
    if not steps:
        return
    raw = inputs["portrait"]
    portraits = [
        p.expand(3, -1, -1) if p.shape[0] == 1 else p for p in (raw if isinstance(raw, list) else [raw])
    ]
    backend = str(inputs.get("landmarks") or pipe.conditioner.backend)
    points = pipe.conditioner._portrait_points(inputs, portraits, backend)
    finetune(pipe, pairs_batch(portraits, points), steps)
