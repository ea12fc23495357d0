"""pose2img end to end: the warping prior on real demo pairs, training, and the CLI with JSON poses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.config import load_config
from i2i.plugins import get_modality
from i2i_pose2img.data import PoseDataset
from i2i_pose2img.demo import person, write_people
from i2i_pose2img.warp import normalise, warp_parts

BIN = Path(sys.executable).parent
TINY = [
    "data.width=32",
    "data.height=32",
    "model.generator.num_downs=5",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "model.discriminator.n_layers=2",
    "train.batch_size=2",
    "train.tensorboard=false",
    "train.sample_every=2",
    "train.checkpoint_every=2",
]


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    write_people(root, n=8, seed=0, size=32)
    return root


def test_the_warp_moves_the_source_towards_the_target_on_held_out_pairs(people):
    """Where the warp covers the body, it is closer to the target photo than the unmoved source."""
    cfg = load_config(get_modality("pose2img"), sets=TINY).data
    test = PoseDataset(people, cfg, "test", False)
    warp_err, copy_err = [], []
    for i in range(len(test)):
        s = test[i]
        out = warp_parts(
            s["source"][None],
            normalise(s["source_points"], 32, 32)[None],
            normalise(s["target_points"], 32, 32)[None],
        )[0]
        covered = out[3:].max(0).values > 0.5
        warp_err.append((out[:3] - s["target"]).abs()[:, covered].mean())
        copy_err.append((s["source"] - s["target"]).abs()[:, covered].mean())
    warp, copy = float(torch.stack(warp_err).mean()), float(torch.stack(copy_err).mean())
    assert warp < 0.8 * copy, (warp, copy)


def _openpose(points: np.ndarray) -> dict:
    return {"people": [{"pose_keypoints_2d": [v for x, y in points.tolist() for v in (x, y, float(x >= 0))]}]}


def test_train_and_run_with_json_poses_and_clear_errors(people, tmp_path):
    run = tmp_path / "run"
    cmd = [
        str(BIN / "i2i-train"),
        "--plugin",
        "pose2img",
        "--data",
        str(people),
        "--out",
        str(run),
        "--quiet",
    ]
    for s in [*TINY, "train.steps=2"]:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    image, own = person(0, 7, 0, 32)
    _, target = person(0, 7, 3, 32)
    Image.fromarray(image).save(tmp_path / "source.png")
    (tmp_path / "source.json").write_text(json.dumps(_openpose(own)))
    (tmp_path / "target.json").write_text(json.dumps(_openpose(target)))
    base = [str(BIN / "i2i-run"), "--checkpoint", str(run), "--source", str(tmp_path / "source.png")]
    ok = subprocess.run(
        [*base, "--pose", str(tmp_path / "target.json"), "--source-pose", str(tmp_path / "source.json"),
         "--out", str(tmp_path / "posed.png")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert Image.open(tmp_path / "posed.png").size == (32, 32)
    (tmp_path / "bad.json").write_text('{"people": []}')
    bad = subprocess.run(
        [*base, "--pose", str(tmp_path / "bad.json"), "--source-pose", str(tmp_path / "source.json"),
         "--out", str(tmp_path / "x.png")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "bad.json: no person" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run(
        [*base, "--pose", str(tmp_path / "target.json"), "--out", str(tmp_path / "x.png")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert missing.returncode == 2 and "--source-pose" in missing.stderr and "mediapipe" in missing.stderr
    assert not (tmp_path / "x.png").exists()
