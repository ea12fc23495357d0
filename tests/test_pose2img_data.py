"""pose2img data: the DeepFashion pose-transfer layout, pairs, on-the-fly pose maps, flips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.errors import InputError
from i2i_pose2img.data import PoseDataset
from i2i_pose2img.keypoints import FLIP, KEYPOINTS

DATA = {"width": 32, "height": 32, "sigma": 6.0, "flip": True}


def _layout(root, broken_pair: bool = False):
    (root / "train").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["name:keypoints_y:keypoints_x"]
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)).save(root / "train" / name)
        ys = [int(v) for v in rng.integers(0, 64, 18)]
        xs = [int(v) for v in rng.integers(0, 48, 18)]
        ys[KEYPOINTS.index("l_ear")] = -1
        rows.append(f"{name}:{ys}:{xs}")
    (root / "fasion-resize-annotation-train.csv").write_text("\n".join(rows) + "\n")
    pairs = "from,to\na.png,b.png\nb.png,a.png\n" + ("a.png,zzz.png\n" if broken_pair else "")
    (root / "fasion-resize-pairs-train.csv").write_text(pairs)
    return root


def test_pairs_give_source_and_target_with_rendered_poses(tmp_path):
    ds = PoseDataset(_layout(tmp_path / "d"), DATA, "train", False)
    assert len(ds) == 2
    s = ds[0]
    assert s["source"].shape == s["target"].shape == (3, 32, 32)
    assert s["source_pose"].shape == (35, 32, 32) and s["source_pose"].dtype == torch.float32
    assert s["source_pose"][KEYPOINTS.index("l_ear")].abs().sum() == 0  # missing point: empty map
    assert not torch.equal(s["source"], s["target"])


def test_flip_mirrors_images_and_poses_together(tmp_path):
    root = _layout(tmp_path / "d")
    plain = PoseDataset(root, DATA, "train", False)[0]
    train = PoseDataset(root, DATA, "train", True)
    flipped = next(
        s for seed in range(20) if not torch.equal((s := train[(0, seed)])["source"], plain["source"])
    )
    assert torch.allclose(flipped["source"], plain["source"].flip(-1), atol=1e-6)
    heat = flipped["source_pose"][:18]
    assert torch.allclose(heat, plain["source_pose"][:18].flip(-1)[list(FLIP)], atol=1e-4)


def test_pairs_naming_unknown_images_and_missing_files_are_named(tmp_path):
    with pytest.raises(InputError, match="no keypoints for zzz.png"):
        PoseDataset(_layout(tmp_path / "d", broken_pair=True), DATA, "train", False)
    with pytest.raises(InputError, match="no test/ image folder"):
        PoseDataset(_layout(tmp_path / "e"), DATA, "test", False)
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "train").mkdir()
    with pytest.raises(InputError, match=r"no \*annotation-train.csv"):
        PoseDataset(tmp_path / "f", DATA, "train", False)
