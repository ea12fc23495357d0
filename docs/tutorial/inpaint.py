"""The tutorial's second modality: "inpaint" fills the holes of a photo, given the photo and a mask.

Two image inputs (`i2i-run --input photo.png --mask mask.png`, or a folder of each, paired by file
name), a data set of paired sub-folders (`<split>/images/NAME.png` + `<split>/masks/NAME.png`) read
by the core's `PhotoFolder`, a reader that checks the two inputs against each other, named
condition parts, the core PatchGAN reused through the config, and a validator for a config value
of its own. It is the code of the section "A second modality" of docs/writing-a-plugin.md and is
run by tests/test_tutorial_inpaint.py.

As in dot2img.py, the parts sit in one file and are passed as objects; a real plugin puts each in
its own module and names it by import string in a torch-free plugin.py.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn

from i2i import InputSpec, Modality, hookimpl
from i2i.data import PairedTransform, PhotoFolder
from i2i.data.dataset import I2IDataset
from i2i.errors import ConfigError, InputError
from i2i.inputs import InputReader
from i2i.interfaces import Condition, Conditioner, Generator
from i2i.keys import INPUT, TARGET
from i2i.validation import at_least, lookup

SIZE = 40  # demo photos; training crops are data.crop_size (32)
MASK = "mask"  # the batch key of this modality's own entry: 1 inside holes, 0 where the photo is kept


def holes(mask: Tensor, threshold: float) -> Tensor:
    """A decoded mask image ((C,H,W) in [-1, 1], white = hole) -> (1,H,W) float, 1 in the holes.

    One definition for training (dataset) and inference (reader), so both read masks alike.
    """
    grey = (mask.float().mean(0, keepdim=True) + 1) / 2
    return (grey > threshold).float()


# 1. Demo data: photos and masks in two sub-folders of each split, paired by name -----------------
def _photo(rng: random.Random) -> Image.Image:
    """A smooth two-colour gradient at a random angle with a few flat shapes on it."""
    import numpy as np

    a, b = (np.array([rng.randint(0, 255) for _ in range(3)], float) for _ in range(2))
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    t = np.clip(0.5 + (xs - 0.5) * np.cos(angle) + (ys - 0.5) * np.sin(angle), 0, 1)[..., None]
    image = Image.fromarray((a * (1 - t) + b * t).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 3)):
        x, y, w, h = (
            rng.randint(0, SIZE - 8),
            rng.randint(0, SIZE - 8),
            rng.randint(6, 16),
            rng.randint(6, 16),
        )
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return image


def _mask(rng: random.Random) -> Image.Image:
    """One to three holes, rectangles or round blobs, white on black."""
    mask = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(rng.randint(1, 3)):
        w, h = rng.randint(5, 12), rng.randint(5, 12)
        x, y = rng.randint(2, SIZE - w - 2), rng.randint(2, SIZE - h - 2)
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x, y, x + w, y + h), fill=255)
    return mask


def write_demo(out: Path, n: int = 256, seed: int = 0) -> None:
    """out/<split>/images/NNNN.png (photos) and out/<split>/masks/NNNN.png (white = hole)."""
    rng = random.Random(seed)
    for split, count in (("train", n), ("test", max(8, n // 8))):
        for sub in ("images", "masks"):
            (Path(out) / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            _photo(rng).save(Path(out) / split / "images" / f"{i:04d}.png")
            _mask(rng).save(Path(out) / split / "masks" / f"{i:04d}.png")


# 2. Dataset: the core's PhotoFolder pairs the two sub-folders and crops/flips them together ------
class InpaintDataset(I2IDataset):
    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        transform = (
            PairedTransform(data["load_size"], data["crop_size"], flip=data["flip"]) if train else None
        )
        self.photos = PhotoFolder(
            root, split, folders={"image": "images", MASK: "masks"}, modes={MASK: "L"}, transform=transform
        )
        self.threshold = float(data["mask_threshold"])

    def __len__(self) -> int:
        return len(self.photos)

    def load(self, index: int, rng: random.Random | None) -> dict[str, Tensor]:
        sample = self.photos.load(index, rng)  # {"image": (3,H,W), "mask": (1,H,W)}, one crop/flip
        photo = sample["image"]
        # the whole photo is both the input (the conditioner erases the holes) and the target
        return {INPUT: photo, TARGET: photo, MASK: holes(sample[MASK], self.threshold)}


# 3. The reader: i2i-run's two decoded images -> the entries the dataset yields -------------------
class InpaintReader(InputReader):
    """Checks that a mask fits its photo; the threshold comes from the model's own config."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.threshold = float(config["data"]["mask_threshold"])

    def prepare(self, inputs: Mapping[str, Any], state: Any) -> dict[str, Any]:
        photo, mask = inputs["input"], inputs["mask"]
        if mask.shape[-2:] != photo.shape[-2:]:
            (h, w), (ph, pw) = mask.shape[-2:], photo.shape[-2:]
            raise InputError("--mask", f"is {w}x{h}, its photo is {pw}x{ph}")
        return {INPUT: photo[:3].expand(3, -1, -1), MASK: holes(mask, self.threshold)}


# 4. Conditioner: the photo with its holes erased, and the mask, as named parts -------------------
class InpaintConditioner(Conditioner):
    def forward(self, batch: Mapping[str, Any]) -> Condition:
        mask = batch[MASK].float()
        known = batch[INPUT] * (1 - mask)  # holes -> 0 (mid grey): nothing of the hole gets through
        # parts for our generator (read by name); maps for the core PatchGAN (cond_channels: 4)
        return Condition(maps=torch.cat([known, mask], 1), parts={"known": known, "mask": mask})

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor:
        return cond.parts["known"] + cond.parts["mask"]  # holes shown white


# 5. Generator: fills the holes, keeps every other pixel of the photo ------------------------------
class InpaintGenerator(Generator):
    """A small encoder-decoder with dilated convolutions in the middle (context from afar) whose
    output replaces only the holes: the kept pixels are the input's exactly. Its last layer
    starts at zero, so an untrained model fills the holes with grey (what learning is measured
    against).
    """

    size_multiple = 4  # two stride-2 steps: the pipeline pads other sizes and crops back

    def __init__(self, width: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Module:
            conv = nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation)
            return nn.Sequential(conv, nn.GroupNorm(4, cout), nn.SiLU())

        self.down = nn.Sequential(block(4, width), block(width, width, 2), block(width, 2 * width, 2))
        self.middle = nn.Sequential(*(block(2 * width, 2 * width, dilation=d) for d in (1, 2, 4, 1)))
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2), block(2 * width, width),
            nn.Upsample(scale_factor=2), block(width, width),
        )  # fmt: skip
        self.out = nn.Conv2d(width + 4, 3, 3, padding=1)  # linear: the pipeline clamps to [-1, 1]
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, cond: Condition, z: Tensor | None = None) -> Tensor:
        known, mask = cond.parts["known"], cond.parts["mask"]
        x = torch.cat([known, mask], 1)
        painted = self.out(torch.cat([self.up(self.middle(self.down(x))), x], 1))
        return known + mask * painted


# 6. Checking this modality's own config values before training starts ----------------------------
def validate(config: Mapping[str, Any]) -> None:
    """One line naming the key for a value the core's type check lets through but this model
    cannot use (`--set data.mask_threshold=1.5` would make every mask empty)."""
    threshold = lookup(config, "data.mask_threshold")  # a number: the core checked its type
    if not 0 < threshold < 1:
        raise ConfigError(f"data.mask_threshold: {threshold!r} must be a number between 0 and 1 (exclusive)")
    if at_least(config, "data.crop_size", 8) % InpaintGenerator.size_multiple:
        raise ConfigError(f"data.crop_size: {lookup(config, 'data.crop_size')} must be a multiple of 4")


# 7. The plugin --------------------------------------------------------------------------------
INPAINT = Modality(
    name="inpaint",
    summary="fill the holes of a photo (photo + mask, white = hole)",
    inputs=[
        InputSpec("input", kind="image", help="photo, or a folder of photos"),
        InputSpec("mask", kind="image", help="mask (white = hole), or a folder of masks named as the photos"),
    ],
    config=str(Path(__file__).with_name("inpaint.yaml")),
    conditioner=InpaintConditioner,
    dataset=InpaintDataset,
    reader=InpaintReader,
    demo_data=write_demo,
    validate_config=validate,
)


@hookimpl
def register_modalities(register):
    register(INPAINT)


@hookimpl
def register_networks(register):
    register("inpaint_generator", InpaintGenerator, kind="generator")
