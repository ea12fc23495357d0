"""Portrait(s) + driving landmarks -> Condition, by name: `parts["sketch"]` (the driving landmark
sketch), `parts["warped"]` (the portrait warped onto them), `vector` (the portraits' identity
embedding), `refs` (the portrait). Raw inputs are read by `i2i_face2img.reader.FaceReader`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from i2i.interfaces import Condition, Conditioner
from i2i_face2img.nets import IdentityEncoder
from i2i_face2img.warp import warp_to


class FaceConditioner(Conditioner):
    def __init__(self, id_dim: int = 128, encoder_ngf: int = 32, landmarks: str = "auto") -> None:
        super().__init__()
        self.identity = IdentityEncoder(id_dim, encoder_ngf)
        self.backend = landmarks  # the default detector of the reader (`--landmarks`)

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        portrait = batch["portrait"]
        warped = warp_to(portrait, batch["portrait_points"], batch["driving_points"])
        portraits = batch.get("portraits", portrait[:, None])
        sketch = batch["sketch"].to(portrait.dtype)
        return Condition(
            vector=self.identity(portraits), refs=portrait, parts={"sketch": sketch, "warped": warped}
        )

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        return cond.parts["sketch"]
