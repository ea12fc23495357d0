"""The shipped default pose2img model: runs from the plugin name alone with JSON poses, and moves
held-out people (identities the default training set holds out) into new poses better than its own
warping prior does, keeping their clothes' colour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from i2i.pipeline import load_pipeline
from i2i_pose2img.demo import person
from i2i_pose2img.evaluate import TORSO, _torso_colour
from i2i_pose2img.keypoints import pose_maps
from i2i_pose2img.warp import normalise, warp_parts

BIN = Path(sys.executable).parent
HELD_OUT = range(88, 100)  # the test identities of `i2i data demo pose2img --n 100 --seed 0`
SIZE = 64


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1


def _pairs() -> dict[str, torch.Tensor]:
    rows = []
    for k, identity in enumerate(HELD_OUT):
        source, own = person(0, identity, k % 6, SIZE)
        target, pose = person(0, identity, (k + 2) % 6, SIZE)
        rows.append((_tensor(source), own, _tensor(target), pose))
    return {
        "source": torch.stack([r[0] for r in rows]),
        "source_points": torch.from_numpy(np.stack([r[1] for r in rows])),
        "target": torch.stack([r[2] for r in rows]),
        "target_points": torch.from_numpy(np.stack([r[3] for r in rows])),
        "target_pose": torch.stack([pose_maps(r[3], (SIZE, SIZE), (SIZE, SIZE)) for r in rows]),
    }


def test_held_out_people_are_posed_better_than_by_the_warp_alone():
    pipe = load_pipeline("pose2img", device="cpu")
    batch = _pairs()
    fake = pipe.generate({k: v for k, v in batch.items() if k != "target"}, seed=0)
    prior = warp_parts(
        batch["source"],
        normalise(batch["source_points"], SIZE, SIZE),
        normalise(batch["target_points"], SIZE, SIZE),
    )
    person_mask = (prior[:, 3:].max(1).values > 0.2)[:, None].expand_as(fake)

    def masked_l1(images: torch.Tensor) -> float:
        return float((images - batch["target"]).abs()[person_mask].mean())

    model, warp, copy = masked_l1(fake), masked_l1(prior[:, :3]), masked_l1(batch["source"])
    assert model < 0.8 * warp and model < 0.6 * copy, (model, warp, copy)
    torso = (prior[:, 3 + TORSO] > 0.5).float()
    colour = float((_torso_colour(fake, torso) - _torso_colour(batch["target"], torso)).abs().mean())
    assert colour < 20, colour  # of 255: the clothes keep their colour


def _openpose(points: np.ndarray) -> dict:
    return {"people": [{"pose_keypoints_2d": [v for x, y in points.tolist() for v in (x, y, float(x >= 0))]}]}


def test_i2i_run_with_only_the_plugin_name(tmp_path):
    source, own = person(0, HELD_OUT[0], 0, SIZE)
    target, pose = person(0, HELD_OUT[0], 3, SIZE)
    Image.fromarray(source).save(tmp_path / "person.png")
    (tmp_path / "person.json").write_text(json.dumps(_openpose(own)))
    (tmp_path / "pose.json").write_text(json.dumps(_openpose(pose)))
    out = tmp_path / "posed.png"
    cmd = [str(BIN / "i2i-run"), "--plugin", "pose2img", "--source", str(tmp_path / "person.png"),
           "--pose", str(tmp_path / "pose.json"), "--source-pose", str(tmp_path / "person.json"),
           "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    posed = np.asarray(Image.open(out)).astype(float)
    assert posed.shape == (SIZE, SIZE, 3)
    assert np.abs(posed - target).mean() < np.abs(source.astype(float) - target).mean()
