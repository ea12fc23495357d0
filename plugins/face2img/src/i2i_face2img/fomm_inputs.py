"""face2img's inputs for first-order-model models: the conditioner, the reader, and the switch
that gives a model its own (the landmark models keep `FaceConditioner` / `FaceReader`).

A first-order-model model reads no landmarks: its generator finds its own keypoints in the
portrait and in each driving frame. `FommReader` resizes the portrait and every driving frame
to the model's frame size exactly as the original demo does (``skimage.transform.resize`` of the
8-bit image, alpha dropped) and keeps, per video, its first frame: motion is taken relative to it
(``--motion relative``, the default for videos; the demo's ``--relative --adapt_scale``, with its
default initial frame: the first one, no ``--find_best_frame``). A single driving photo gives its
pose as it is (``absolute``) unless ``--motion relative`` is asked for.

`FommConditioner` packs the batch into a Condition: ``refs`` the portrait, ``parts["driving"]``
the driving frame (in training, self-reenactment, the target frame is the driving frame, as the
paper trains), ``parts["driving_initial"]`` the video's first frame for relative motion, and
``parts["sketch"]`` the driving landmarks' sketch when the data has one (face2img's default
discriminator judges (image, sketch); the generator never reads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from i2i.errors import ConfigError, InputError
from i2i.inputs import InputReader
from i2i.interfaces import Condition, Conditioner
from i2i.keys import TARGET, VIDEO_FRAME

NAME = "fomm"  # model.conditioner.name of first-order-model models
MOTIONS = ("relative", "absolute")


class FommConditioner(Conditioner):
    """Batch {"portrait", "driving" (or "target"), ["driving_initial"], ["sketch"]} -> Condition.

    frame_size: the side the reader resizes portrait and driving frames to (the model's training
    frame size; 256 for the published models). motion: the reader's default for videos."""

    def __init__(self, frame_size: int = 256, motion: str = "relative") -> None:
        super().__init__()
        if motion not in MOTIONS:
            raise ConfigError(f"model.conditioner.motion: {motion!r} is not one of {', '.join(MOTIONS)}")
        self.frame_size = int(frame_size)
        self.motion = motion

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        portrait = batch["portrait"]
        driving = batch["driving"] if "driving" in batch else batch[TARGET]
        parts = {"driving": driving.to(portrait.dtype)}
        if "driving_initial" in batch:
            parts["driving_initial"] = batch["driving_initial"].to(portrait.dtype)
        if "sketch" in batch:
            parts["sketch"] = batch["sketch"].to(portrait.dtype)
        return Condition(refs=portrait, parts=parts)

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        return cond.refs  # the portrait being animated: sample rows read portrait | fake | target


@dataclass
class FommStream:
    initial: Tensor | None = None  # the first driving frame of this video, resized


def fit_frame(image: Tensor, size: int) -> Tensor:
    """A decoded image (C,H,W in [-1, 1]) resized to (3,size,size) in [-1, 1] as the original demo
    resizes: its 8-bit pixels through ``skimage.transform.resize`` (bilinear, anti-aliased when
    shrinking), alpha dropped."""
    from skimage.transform import resize

    rgb = image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]
    pixels = ((rgb.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    resized = resize(pixels, (size, size))[..., :3].astype(np.float32)
    return torch.from_numpy(resized).permute(2, 0, 1).contiguous() * 2 - 1


class FommReader(InputReader):
    """`--portrait` (one), `--driving` video / photo, `--motion relative|absolute`."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        section = config.model.conditioner if config is not None else {}
        self.frame_size = int(section.get("frame_size", 256))
        self.motion = str(section.get("motion", "relative"))

    def new_state(self) -> FommStream:
        return FommStream()

    def _driving(self, value: Any) -> tuple[Tensor, bool]:
        """The driving frame, resized, and whether it is a frame of a video."""
        if isinstance(value, Tensor):
            return fit_frame(value, self.frame_size), True
        path = Path(value)
        if path.suffix.lower() == ".json":
            raise InputError(
                path, "first-order-model checkpoints are driven by a video or photo of a face, not landmarks"
            )
        from i2i.data.images import image_to_tensor, read_image

        return fit_frame(image_to_tensor(read_image(path)), self.frame_size), False

    def prepare(self, inputs: Mapping[str, Any], state: FommStream) -> dict[str, Any]:
        raw = inputs["portrait"]
        portraits = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        if len(portraits) != 1:
            raise InputError(
                "--portrait", f"first-order-model checkpoints animate one portrait, not {len(portraits)}"
            )
        if inputs.get("portrait_landmarks"):
            raise InputError(
                "--portrait-landmarks", "first-order-model checkpoints find their own keypoints; leave it out"
            )
        if inputs.get("driving") is None:
            raise InputError("--driving", "give a video (or a photo) of the driving face")
        driving, video = self._driving(inputs["driving"])
        video = video or bool(inputs.get(VIDEO_FRAME))
        motion = inputs.get("motion") or (self.motion if video else "absolute")
        if motion not in MOTIONS:
            raise InputError("--motion", f"{motion!r} is not one of {', '.join(MOTIONS)}")
        out = {"portrait": fit_frame(portraits[0], self.frame_size), "driving": driving}
        if motion == "relative":
            if state.initial is None:
                state.initial = driving
            out["driving_initial"] = state.initial
        return out


# ---- the switch named in face2img's Modality ------------------------------------------------------------
def is_fomm(config: Any) -> bool:
    """Whether a config's model is a first-order-model one (`model.conditioner.name: fomm`)."""
    try:
        return config["model"]["conditioner"].get("name") == NAME
    except (KeyError, TypeError, AttributeError):
        return False


def conditioner(name: str | None = None, **options: Any) -> Conditioner:
    """face2img's conditioner: `FommConditioner` for `name: fomm`, else the landmark model's
    `FaceConditioner` (no name), each with its own keyword arguments checked."""
    from i2i.engine.build import call_with_config

    if name == NAME:
        return call_with_config(FommConditioner, options, "model.conditioner (fomm)")
    if name is not None:
        raise ConfigError(
            f"model.conditioner.name: {name!r} is not a face2img conditioner (fomm, or no name)"
        )
    from i2i_face2img.conditioner import FaceConditioner

    return call_with_config(FaceConditioner, options, "model.conditioner")


def reader(config: Any = None) -> InputReader:
    """face2img's reader: `FommReader` for first-order-model configs, else `FaceReader`."""
    if is_fomm(config):
        return FommReader(config)
    from i2i_face2img.reader import FaceReader

    return FaceReader(config)


def adapt(pipe: Any, inputs: Mapping[str, Any]) -> None:
    """face2img's adapt step: few-shot fine-tuning on the portraits for landmark models; a
    first-order-model model has no such stage, so asking for it is a one-line error."""
    if is_fomm(pipe.config):
        if int(inputs.get("finetune_steps") or 0):
            raise InputError(
                "--finetune-steps", "first-order-model checkpoints are not fine-tuned on the portrait"
            )
        return
    from i2i_face2img.finetune import adapt as landmark_adapt

    landmark_adapt(pipe, inputs)
