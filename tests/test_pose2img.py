"""pose2img end to end: the warping prior on real demo pairs, training, and the CLI with JSON poses."""

from __future__ import annotations

import importlib.util
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


@pytest.fixture(scope="module")
def trained(people, tmp_path_factory):
    run = tmp_path_factory.mktemp("pose-run") / "run"
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
    return run


def test_run_with_json_poses_and_clear_errors(trained, tmp_path):
    run = trained
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
    # no --source-pose: extracted from the photo, which needs the mediapipe extra (absent here)
    assert missing.returncode == 2 and "--source-pose" in missing.stderr and "mediapipe" in missing.stderr
    assert not (tmp_path / "x.png").exists()


class _FakeExtractor:
    """Stands in for BlazePose: knows the keypoints of a few frames, finds no one in others."""

    def __init__(self, known: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.known = known

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        errors = [np.abs(rgb.astype(float) - image).mean() for image, _ in self.known]
        best = int(np.argmin(errors))
        return self.known[best][1] if errors[best] < 20 else None


def test_a_pose_video_drives_the_source_frame_by_frame(trained, tmp_path):
    """Video in, video out: one output frame per pose frame, each in that frame's pose; a frame
    where no one is found reuses the last pose and is counted."""
    from i2i.data.video import VideoWriter, iter_video_frames, probe_video
    from i2i.pipeline import load_pipeline, run_files

    image, own = person(0, 7, 0, 32)
    poses = [person(0, 7, p, 32) for p in (1, 3, 5)]
    Image.fromarray(image).save(tmp_path / "source.png")
    (tmp_path / "source.json").write_text(json.dumps(_openpose(own)))
    frames = [pic for pic, _ in poses] + [np.zeros_like(image)]  # the last frame: nobody
    clip = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 127.5 - 1 for f in frames])
    with VideoWriter(tmp_path / "dance.mp4", fps=4) as writer:
        writer.write(clip)
    pipe = load_pipeline(trained, device="cpu")
    pipe.conditioner._extractors["video"] = _FakeExtractor(poses)
    raw = {"source": str(tmp_path / "source.png"), "pose": str(tmp_path / "dance.mp4"),
           "source_pose": str(tmp_path / "source.json")}  # fmt: skip
    run_files(pipe, raw, tmp_path / "out.mp4", seed=0)
    info = probe_video(tmp_path / "out.mp4")
    assert (info.width, info.height, info.frames) == (32, 32, 4)
    assert pipe.conditioner.frames_without_person == 1
    out = torch.cat(list(iter_video_frames(tmp_path / "out.mp4")))
    assert (out[0] - out[1]).abs().mean() > 0.01  # different poses, different frames
    assert (out[3] - out[2]).abs().mean() < 0.05  # nobody found: the last pose again (codec noise)


def test_a_pose_video_without_mediapipe_is_a_clear_error(trained, tmp_path):
    from i2i.data.video import VideoWriter

    image, own = person(0, 7, 0, 32)
    Image.fromarray(image).save(tmp_path / "source.png")
    (tmp_path / "source.json").write_text(json.dumps(_openpose(own)))
    with VideoWriter(tmp_path / "dance.mp4", fps=4) as writer:
        writer.write(torch.zeros(2, 3, 32, 32))
    cmd = [str(BIN / "i2i-run"), "--checkpoint", str(trained), "--source", str(tmp_path / "source.png"),
           "--pose", str(tmp_path / "dance.mp4"), "--source-pose", str(tmp_path / "source.json"),
           "--out", str(tmp_path / "out.mp4")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if importlib.util.find_spec("mediapipe") is None:
        assert proc.returncode == 2 and "pip install 'i2i-pose2img[mediapipe]'" in proc.stderr
        assert "Traceback" not in proc.stderr and not (tmp_path / "out.mp4").exists()
    else:  # blank frames: nobody to follow
        assert proc.returncode == 2 and "no person found" in proc.stderr


def test_eval_scores_against_ground_truth_with_references(people, trained, tmp_path, monkeypatch):
    from i2i.pipeline import load_pipeline
    from i2i_pose2img import evaluate

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(evaluate, "DETECTOR_STEPS", 120)
    result = evaluate.evaluate(load_pipeline(trained, device="cpu"), people, "test")
    assert result["n"] == 30 and "PROXY" in result["notes"]
    result = result["metrics"]
    for name in ("model", "warp_prior", "source_copy"):
        scores = result[name]
        assert {"ssim", "psnr", "l1", "masked_ssim", "masked_l1", "torso_colour_error"} <= set(scores)
    # the references mean something: the proxy detector reads real target photos far better than
    # the unmoved source, and the warp moves the body towards the target
    ceiling = result["real_target_ceiling"]["keypoints"]
    assert ceiling["mean_error"] < 0.5 * result["source_copy"]["keypoints"]["mean_error"], result
    assert result["warp_prior"]["masked_l1"] < result["source_copy"]["masked_l1"], result
    assert list((tmp_path / "cache" / "i2i" / "pose2img").glob("keypoints-*.safetensors"))  # cached
