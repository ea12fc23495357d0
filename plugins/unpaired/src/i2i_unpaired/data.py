"""Two-domain training data: an image of domain A and an unrelated image of domain B per sample.

Layouts (checked in this order):

- ``data.a`` / ``data.b`` set: two folders anywhere (relative paths are looked up under
  ``--data`` first); each may have ``train/`` and ``test/`` sub-folders or hold plain photos (a
  stable held-out tenth by file name, `i2i.data.folders`);
- the original CycleGAN layout ``DIR/trainA``, ``DIR/trainB``, ``DIR/testA``, ``DIR/testB``;
- ``DIR/A/`` and ``DIR/B/``, each split as above.

The two domains are listed independently and never matched by name. As the original
`UnalignedDataset` does, an epoch is as long as the larger domain, sample i takes A[i mod |A|]
and, when augmenting, a B image drawn at random (with the sample's own rng, so resume is exact);
without augmentation B[i mod |B|], so evaluation is deterministic. Each image gets its own random
resize/crop/flip (load_size 286 -> crop 256 in the original).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from i2i.data.dataset import I2IDataset
from i2i.data.folders import SPLIT_FOLDERS, PhotoFolder, split_names
from i2i.data.images import image_to_tensor
from i2i.data.transforms import RESIZE_MODES, PairedTransform
from i2i.errors import ConfigError, InputError
from i2i.keys import DOMAIN_A, DOMAIN_B

DOMAINS = {DOMAIN_A: "A", DOMAIN_B: "B"}
IMAGE = "image"


def validate_config(config: Mapping[str, Any]) -> None:
    """The unpaired plugin's own config values, checked before training starts (one line each)."""
    from i2i.validation import at_least, lookup, one_of

    for key in ("data.load_size", "data.crop_size"):
        if not isinstance(lookup(config, key), int):
            raise ConfigError(f"{key}: must be a whole number, got {lookup(config, key)!r}")
        at_least(config, key, 1)
    mode = one_of(config, "data.resize_mode", RESIZE_MODES)
    if mode == "resize_and_crop" and lookup(config, "data.crop_size") > lookup(config, "data.load_size"):
        raise ConfigError(
            "data.crop_size: larger than data.load_size (resize_and_crop crops the resized image)"
        )
    if bool(lookup(config, "data.a")) != bool(lookup(config, "data.b")):
        raise ConfigError("data.a / data.b: give both domain folders or neither")
    one_of(config, "recipe", ("cycle",))
    if lookup(config, "temporal.enabled"):
        raise ConfigError("temporal.enabled: the cycle recipe has no temporal mode")
    if int(lookup(config, "model.discriminator").get("cond_channels", 0)) != 0:
        raise ConfigError("model.discriminator.cond_channels: must be 0 (an unpaired D sees one image)")
    at_least(config, "cycle.pool_size", 0)


def _given_folder(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and (root / path).is_dir():
        return root / path
    if not path.is_dir():
        raise InputError(path, "no such domain folder (from data.a / data.b)")
    return path


def domain_folders(root: Path, data: Mapping[str, Any], split: str) -> dict[str, PhotoFolder]:
    """The two domains' `PhotoFolder`s for `split`, in whichever layout `root` (and data.a/b) has."""
    if data.get("a") or data.get("b"):
        if not (data.get("a") and data.get("b")):
            raise ConfigError("data.a / data.b: give both domain folders or neither")
        given = {DOMAIN_A: str(data["a"]), DOMAIN_B: str(data["b"])}
        return {
            key: PhotoFolder(_given_folder(root, value), split, key=IMAGE) for key, value in given.items()
        }
    if not root.is_dir():
        raise InputError(root, "no such data directory" if not root.exists() else "not a directory")
    original = {name + suffix for names in SPLIT_FOLDERS.values() for name in names for suffix in "AB"}
    if any((root / name).is_dir() for name in original):
        return {
            key: PhotoFolder(root, split, key=IMAGE, splits=split_names(suffix))
            for key, suffix in DOMAINS.items()
        }
    if all((root / suffix).is_dir() for suffix in DOMAINS.values()):
        return {key: PhotoFolder(root / suffix, split, key=IMAGE) for key, suffix in DOMAINS.items()}
    raise InputError(
        root, "no trainA/ + trainB/ (CycleGAN layout) and no A/ + B/ folders; or set data.a and data.b"
    )


class UnpairedDataset(I2IDataset):
    """Samples {"a": (3,H,W), "b": (3,H,W)} in [-1, 1], the two images unrelated."""

    def __init__(self, root: Path, data: Mapping[str, Any], split: str, train: bool) -> None:
        super().__init__(root, data, split, train)
        try:
            self.transform = PairedTransform(
                int(data["load_size"]),
                int(data["crop_size"]),
                flip=bool(data["flip"]),
                resize_mode=str(data["resize_mode"]),
            )
        except ValueError as exc:
            raise ConfigError(f"data: {exc}") from None
        self.domains = domain_folders(self.root, data, split)
        self.serial = bool(data.get("serial_batches", False))

    def __len__(self) -> int:
        return max(len(folder) for folder in self.domains.values())

    def size(self, domain: str) -> int:
        return len(self.domains[domain])

    def image(self, domain: str, index: int, rng: random.Random | None = None) -> torch.Tensor:
        """Image `index` of one domain, with its own random geometry when rng is given."""
        picture = self.domains[domain].read(index)[IMAGE]
        return image_to_tensor(self.transform({IMAGE: picture}, rng)[IMAGE])

    def load(self, index: int, rng: random.Random | None) -> dict[str, torch.Tensor]:
        n_a, n_b = self.size(DOMAIN_A), self.size(DOMAIN_B)
        b_index = rng.randrange(n_b) if rng is not None and not self.serial else index % n_b
        return {
            DOMAIN_A: self.image(DOMAIN_A, index % n_a, rng),
            DOMAIN_B: self.image(DOMAIN_B, b_index, rng),
        }
