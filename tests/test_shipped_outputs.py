"""Every shipped model gives the same output as the version that wrote these fixtures, for the same
inputs and seed, through `i2i-run` (max difference <= 1/255 after PNG rounding).

The fixtures (tests/fixtures/shipped-outputs/*.png) were written before the contract-v2 change
(named loss terms, recipes, inference inputs apart from the networks); they guard every later
refactor of the conditioners, networks and the pipeline. Rewrite them only for a deliberate model
change: `I2I_WRITE_SHIPPED_OUTPUTS=1 python -m pytest tests/test_shipped_outputs.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2i.cli.main import run_command

FIXTURES = Path(__file__).parent / "fixtures" / "shipped-outputs"
WRITE = os.environ.get("I2I_WRITE_SHIPPED_OUTPUTS") == "1"
EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "chelsea-small.png"


def _openpose(points: np.ndarray) -> dict:
    return {"people": [{"pose_keypoints_2d": [v for x, y in points.tolist() for v in (x, y, float(x >= 0))]}]}


def _inputs(plugin: str, tmp: Path) -> list[str]:
    """The command-line inputs of one plugin, made deterministically from its demo generator."""
    if plugin == "img2img":
        return ["--input", str(EXAMPLE)]
    if plugin == "text2img":
        return ["--prompt", "red bird with short beak", "--prompt", "blue bird with long beak",
                "--num-samples", "2"]  # fmt: skip
    if plugin == "seg2img":
        from i2i.cli.main import i2i_command

        i2i_command(["data", "demo", "seg2img", "--out", str(tmp / "scenes"), "--n", "4", "--seed", "0"])
        label = sorted((tmp / "scenes").rglob("labels/*.png"))[-1]
        return ["--labels", str(label), "--num-samples", "2"]
    if plugin == "pose2img":
        from i2i_pose2img.demo import person

        source, own = person(0, 90, 0, 64)
        _, pose = person(0, 90, 3, 64)
        Image.fromarray(source).save(tmp / "person.png")
        (tmp / "person.json").write_text(json.dumps(_openpose(own)))
        (tmp / "pose.json").write_text(json.dumps(_openpose(pose)))
        return ["--source", str(tmp / "person.png"), "--source-pose", str(tmp / "person.json"),
                "--pose", str(tmp / "pose.json")]  # fmt: skip
    if plugin == "face2img":
        from i2i_face2img.demo import face

        portrait, _ = face(0, 47, 0, 64)
        driving, _ = face(0, 47, 9, 64)
        Image.fromarray(portrait).save(tmp / "me.png")
        Image.fromarray(driving).save(tmp / "frame.png")
        return ["--portrait", str(tmp / "me.png"), "--driving", str(tmp / "frame.png")]
    if plugin == "unpaired":
        from i2i_unpaired.demo import random_scene, render

        day = render(random_scene(np.random.default_rng((0, 0, 1, 0))), night=False, size=64)
        day.save(tmp / "day.png")  # held-out day scene 0 of `i2i data demo unpaired --seed 0`
        return ["--input", str(tmp / "day.png"), "--direction", "AtoB"]
    raise AssertionError(plugin)


@pytest.mark.parametrize("plugin", ["img2img", "text2img", "seg2img", "pose2img", "face2img", "unpaired"])
def test_shipped_model_output_is_unchanged(plugin, tmp_path):
    out = tmp_path / "out.png"
    argv = [
        "--plugin",
        plugin,
        *_inputs(plugin, tmp_path),
        "--seed",
        "0",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert run_command(argv) == 0
    got = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    fixture = FIXTURES / f"{plugin}.png"
    if WRITE:
        Image.open(out).save(fixture)
    want = np.asarray(Image.open(fixture).convert("RGB"), dtype=np.int16)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1, f"max difference {np.abs(got - want).max()}/255"
