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


class _FakeBlazePose:
    """Stands in for BlazePose: knows the keypoints of a few frames, finds no one in others. In
    video (tracking) mode it leans on its previous answer as a tracker does (the mean of the two),
    so a tracker that outlived its video would show in the next one."""

    def __init__(self, known: list[tuple[np.ndarray, np.ndarray]], video: bool) -> None:
        self.known, self.video = known, video
        self.previous: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        errors = [np.abs(rgb.astype(float) - image).mean() for image, _ in self.known]
        best = int(np.argmin(errors))
        if errors[best] >= 20:
            return None
        points = self.known[best][1]
        if self.video and self.previous is not None:
            both = (points >= 0) & (self.previous >= 0)
            points = np.where(both, (points + self.previous) / 2, points).astype(np.float32)
        self.previous = points
        return points


SIZE = 64  # the shipped model's


@pytest.fixture
def blazepose(monkeypatch):
    """Poses 1, 3 and 5 of demo person 7, known to a fake BlazePose that replaces the real one."""
    from i2i_pose2img import extract

    poses = [person(0, 7, p, SIZE) for p in (1, 3, 5)]
    monkeypatch.setattr(
        extract, "PoseExtractor", lambda video=False, complexity=1: _FakeBlazePose(poses, video)
    )
    return [pic for pic, _ in poses]


def _clip(path: Path, frames: list[np.ndarray]) -> Path:
    from i2i.data.video import VideoWriter

    clip = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 127.5 - 1 for f in frames])
    with VideoWriter(path, fps=4) as writer:
        writer.write(clip)
    return path


def _source(tmp_path: Path) -> dict[str, str]:
    image, own = person(0, 7, 0, SIZE)
    Image.fromarray(image).save(tmp_path / "source.png")
    (tmp_path / "source.json").write_text(json.dumps(_openpose(own)))
    return {"source": str(tmp_path / "source.png"), "source_pose": str(tmp_path / "source.json")}


def _frames(path: Path) -> torch.Tensor:
    from i2i.data.video import iter_video_frames

    return torch.cat(list(iter_video_frames(path)))


def test_a_pose_video_drives_the_source_frame_by_frame(blazepose, tmp_path):
    """Video in, video out: one output frame per pose frame, each in that frame's pose; a frame
    where no one is found reuses the last pose and is counted in the video's stream state."""
    from i2i.data.video import probe_video
    from i2i.pipeline import load_pipeline, run_files

    nobody = np.zeros_like(blazepose[0])
    dance = _clip(tmp_path / "dance.mp4", [*blazepose, nobody])
    pipe = load_pipeline("pose2img", device="cpu")
    states = []
    new_state = pipe.reader.new_state
    pipe.reader.new_state = lambda: states.append(new_state()) or states[-1]
    run_files(pipe, {**_source(tmp_path), "pose": str(dance)}, tmp_path / "out.mp4", seed=0)
    info = probe_video(tmp_path / "out.mp4")
    assert (info.width, info.height, info.frames) == (SIZE, SIZE, 4)
    assert len(states) == 1 and states[0].frames_without_person == 1
    out = _frames(tmp_path / "out.mp4")
    assert (out[0] - out[1]).abs().mean() > 0.01  # different poses, different frames
    assert (out[3] - out[2]).abs().mean() < 0.05  # nobody found: the last pose again (codec noise)


def test_two_pose_videos_through_one_pipeline_give_what_each_gives_alone(blazepose, tmp_path):
    """Tracking state belongs to one video: the second video through a pipeline gives the frames
    it gives through a fresh one (before, the tracker and the last pose of the first video carried
    over), and a video whose first frame shows nobody is an error even after another video."""
    from i2i.errors import InputError
    from i2i.pipeline import load_pipeline, run_files

    one, three, five = blazepose
    nobody = np.zeros_like(one)
    raw = _source(tmp_path)
    first, second = _clip(tmp_path / "first.mp4", [one, three]), _clip(tmp_path / "second.mp4", [five, one])
    empty_start = _clip(tmp_path / "late.mp4", [nobody, three])
    shared = load_pipeline("pose2img", device="cpu")
    run_files(shared, {**raw, "pose": str(first)}, tmp_path / "first_out.mp4", seed=0)
    run_files(shared, {**raw, "pose": str(second)}, tmp_path / "after.mp4", seed=0)
    fresh = load_pipeline("pose2img", device="cpu")
    run_files(fresh, {**raw, "pose": str(second)}, tmp_path / "alone.mp4", seed=0)
    after, alone = _frames(tmp_path / "after.mp4"), _frames(tmp_path / "alone.mp4")
    assert (after - alone).abs().max() < 1e-6
    assert (after - _frames(tmp_path / "first_out.mp4")).abs().mean() > 0.01  # the videos differ
    for pipe in (fresh, shared):
        with pytest.raises(InputError, match="late.mp4: no person found"):
            run_files(pipe, {**raw, "pose": str(empty_start)}, tmp_path / "late_out.mp4", seed=0)
    assert not (tmp_path / "late_out.mp4").exists()


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
