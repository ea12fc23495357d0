"""A complete i2i modality plugin in one file: "dot2img" draws a coloured dot where a 5-number
vector (x, y, r, g, b) says. It is the code of docs/writing-a-plugin.md and is run by
tests/test_tutorial.py, so the tutorial cannot drift from the real API.

In a real plugin each part below lives in its own module (plugin.py must not import torch), and
the Modality names them by import string; here they sit together and are passed as objects.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn

from i2i import InputSpec, Modality, hookimpl
from i2i.data.dataset import I2IDataset
from i2i.errors import InputError
from i2i.interfaces import Condition, Conditioner, Discriminator, DOutput, Generator
from i2i.keys import TARGET

SIZE = 32


# 1. Demo data: written in the same on-disk format real data would use ----------------------------
def write_demo(out: Path, n: int = 64, seed: int = 0) -> None:
    """out/<split>/<i>.png plus out/<split>/labels.json mapping file name -> [x, y, r, g, b]."""
    rng = random.Random(seed)
    for split, count in (("train", n), ("test", max(4, n // 8))):
        folder = Path(out) / split
        folder.mkdir(parents=True, exist_ok=True)
        labels = {}
        for i in range(count):
            vec = [rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75)] + [rng.random() for _ in range(3)]
            image = Image.new("RGB", (SIZE, SIZE), (0, 0, 0))
            cx, cy, r = vec[0] * SIZE, vec[1] * SIZE, SIZE / 6
            colour = tuple(int(c * 255) for c in vec[2:])
            ImageDraw.Draw(image).ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
            image.save(folder / f"{i:04d}.png")
            labels[f"{i:04d}.png"] = vec
        (folder / "labels.json").write_text(json.dumps(labels))


# 2. Dataset: (index, rng) -> raw conditions + target ------------------------------------------------
class DotDataset(I2IDataset):
    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        self.folder = Path(root) / split
        labels = self.folder / "labels.json"
        if not labels.exists():
            raise InputError(labels, "missing (expected <split>/labels.json)")
        self.items = sorted(json.loads(labels.read_text()).items())

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int, rng: random.Random | None) -> dict[str, Tensor]:
        from i2i.data.images import image_to_tensor, read_image

        name, vec = self.items[index]
        # TARGET ("target") is the one key the engine reads; "dot" is this modality's own
        return {TARGET: image_to_tensor(read_image(self.folder / name)), "dot": torch.tensor(vec)}


# 3. Conditioner: raw inputs -> Condition -----------------------------------------------------------
class DotConditioner(Conditioner):
    """Renders the vector where the generator can use it: a soft disk at (x, y), and its colour.

    Drawing a condition into image space (as pose2img draws keypoint heatmaps) lets a small
    convolutional generator learn in seconds; decoding positions from a bare vector is slow.
    """

    def __init__(self, size: int = SIZE, radius: float = 1 / 6) -> None:
        super().__init__()
        self.size = size
        self.radius = radius

    def forward(self, batch: Mapping[str, Any]) -> Condition:
        vec = batch["dot"].float()
        axis = (torch.arange(self.size, device=vec.device) + 0.5) / self.size
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")
        dist = ((xs - vec[:, 0, None, None]) ** 2 + (ys - vec[:, 1, None, None]) ** 2).sqrt()
        disk = torch.sigmoid((self.radius - dist) * self.size * 4)[:, None]  # (B,1,H,W), soft edge
        colour = vec[:, 2:, None, None] * 2 - 1  # (B,3,1,1) in [-1,1]
        return Condition(maps=torch.cat([disk, disk * colour], 1), vector=vec)

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor:
        return cond.maps[:, 1:] + cond.maps[:, :1] - 1  # the rendered dot on black

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """`i2i-run --dot "0.5,0.5,1,0,0"` -> the tensor a dataset would give."""
        try:
            values = [float(v) for v in str(inputs["dot"]).split(",")]
        except ValueError:
            raise InputError("--dot", "expected five comma-separated numbers") from None
        if len(values) != 5:
            raise InputError("--dot", f"expected five numbers, got {len(values)}")
        return {"dot": torch.tensor(values)}


# 4. Networks: a generator and a projection discriminator ---------------------------------------
class DotGenerator(Generator):
    """A per-pixel MLP (1x1 convolutions) over the rendered condition maps and broadcast noise.

    The noise enters through a learned strength that starts at zero (as StyleGAN does): early on
    the reconstruction loss is not fighting random inputs, and the network adds variety only as
    the adversarial loss asks for it.
    """

    noise_dim = 8

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(4 + self.noise_dim, width, 1), nn.ReLU(),
            nn.Conv2d(width, width, 1), nn.ReLU(),
            nn.Conv2d(width, 3, 1),  # linear output: tanh saturates on the black background
        )  # fmt: skip
        self.noise_strength = nn.Parameter(torch.zeros(()))

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        maps = cond.maps
        b, _, h, w = maps.shape
        z = torch.zeros(b, self.noise_dim, device=maps.device) if z is None else z
        z = self.noise_strength * z[:, :, None, None].expand(-1, -1, h, w)
        return self.net(torch.cat([maps, z], 1))


class DotDiscriminator(Discriminator):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
        )
        self.out = nn.Linear(width, 1)
        self.embed = nn.Linear(5, width)  # projection: <embed(c), features> scores the match

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        feat = self.body(image)
        pooled = feat.mean((2, 3))
        logits = self.out(pooled) + (self.embed(cond.vector) * pooled).sum(1, keepdim=True)
        return [DOutput(logits, [feat])]


# 5. The plugin: hooks that register the modality and its networks --------------------------------
CONFIG = Path(__file__).with_name("dot2img.yaml")

DOT2IMG = Modality(
    name="dot2img",
    summary="a coloured dot where (x, y, r, g, b) says",
    inputs=[InputSpec("dot", kind="text", help="x,y,r,g,b in [0,1]")],
    config=str(CONFIG),
    conditioner=DotConditioner,
    dataset=DotDataset,
    demo_data=write_demo,
)


@hookimpl
def register_modalities(register):
    register(DOT2IMG)


@hookimpl
def register_networks(register):
    register("dot_generator", DotGenerator, kind="generator")
    register("dot_discriminator", DotDiscriminator, kind="discriminator")
