"""Import an original CycleGAN checkpoint pair as one two-way model.

The original saves its generators apart: ``<epoch>_net_G_A.pth`` (A -> B) and
``<epoch>_net_G_B.pth`` (B -> A), bare state dicts of its ResnetGenerator. Given either file, the
other is found beside it; each is read by the core's importer of original generators
(`i2i.nets.pix2pix_import`, which infers the architecture from the keys) and the two become the
`a_to_b` and `b_to_a` halves of a `TwoWayGenerator`, so `--direction` picks one at run time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from i2i.errors import InputError
from i2i.nets.pix2pix_import import load_pix2pix_generator
from i2i_unpaired.nets import TwoWayGenerator

_HALF = re.compile(r"G_([AB])")


def pair_paths(path: str | Path) -> tuple[Path, Path]:
    """(G_A file, G_B file) for either one of them; InputError naming what is missing."""
    path = Path(path)
    found = list(_HALF.finditer(path.name))
    if not found:
        raise InputError(path, "not one of a CycleGAN pair (expected a name like latest_net_G_A.pth)")
    m = found[-1]
    other = "B" if m.group(1) == "A" else "A"
    sibling = path.with_name(path.name[: m.start()] + f"G_{other}" + path.name[m.end() :])
    if not path.is_file():
        raise InputError(path, "no such file")
    if not sibling.is_file():
        raise InputError(sibling, f"no such file: a CycleGAN pair needs G_{other} beside {path.name}")
    return (path, sibling) if m.group(1) == "A" else (sibling, path)


def import_cyclegan_pair(path: str | Path) -> tuple[dict[str, Any], TwoWayGenerator]:
    """The unpaired modality's importer hook: (config override, two-way generator)."""
    a_path, b_path = pair_paths(path)
    a_config, a_to_b = load_pix2pix_generator(a_path)
    b_config, b_to_a = load_pix2pix_generator(b_path)
    if a_config != b_config:
        raise InputError(b_path, f"has another architecture than {a_path.name} ({b_config} vs {a_config})")
    if a_config["name"] != "resnet":
        raise InputError(
            a_path, f"a {a_config['name']} pair: only ResNet generator pairs (CycleGAN's) are supported"
        )
    network = {k: v for k, v in a_config.items() if k != "name"}
    override = {"model": {"generator": {"name": "two_way", "network": a_config["name"], **network}}}
    return override, TwoWayGenerator(a_to_b, b_to_a).eval()
