"""face2img end to end: the warping prior, training on demo clips, and the CLI on a real face
(scikit-image's astronaut photo, found by dlib) with photo, JSON and video driving, and no-face errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_face2img.demo import face, write_faces
from i2i_face2img.evaluate import real_portrait
from i2i_face2img.warp import warp_to

BIN = Path(sys.executable).parent
TINY = [
    "data.size=32",
    "model.generator.ngf=8",
    "model.generator.levels=3",
    "model.conditioner.encoder_ngf=8",
    "model.discriminator.ndf=8",
    "model.discriminator.n_layers=2",
    "train.batch_size=4",
    "train.tensorboard=false",
    "train.sample_every=2",
    "train.checkpoint_every=2",
]


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    write_faces(root, n=4, seed=0, size=64, frames=6)
    return root


@pytest.fixture(scope="module")
def trained(faces, tmp_path_factory):
    run = tmp_path_factory.mktemp("face-run") / "run"
    cmd = [str(BIN / "i2i-train"), "--plugin", "face2img", "--data", str(faces), "--out", str(run), "--quiet"]
    for s in [*TINY, "train.steps=2"]:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return run


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    """The astronaut's face cropped square (64 px), a copy turned 6 degrees, and a blank image."""
    root = tmp_path_factory.mktemp("real")
    image, _ = real_portrait(64)
    rgb = ((image.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    Image.fromarray(rgb).save(root / "portrait.png")
    Image.fromarray(rgb).rotate(6, resample=Image.Resampling.BICUBIC).save(root / "turned.png")
    Image.new("RGB", (64, 64), (120, 130, 140)).save(root / "blank.png")
    return root


def test_the_warp_moves_the_portrait_onto_the_driving_face():
    """Where the face is, the thin-plate-spline warp of frame 0 is closer to frame k than frame 0 is."""
    closer = 0
    for clip in range(4):
        src, src_pts = face(0, clip, 0, 64)
        dst, dst_pts = face(0, clip, 7, 64)
        warped = (
            warp_to(
                torch.from_numpy(src).permute(2, 0, 1)[None].float(),
                torch.from_numpy(src_pts)[None],
                torch.from_numpy(dst_pts)[None],
            )[0]
            .permute(1, 2, 0)
            .numpy()
        )
        (x0, y0), (x1, y1) = dst_pts.min(0).astype(int), dst_pts.max(0).astype(int)
        box = (slice(y0, y1), slice(x0, x1))
        warp_err = np.abs(warped[box] - dst[box]).mean()
        copy_err = np.abs(src[box].astype(float) - dst[box]).mean()
        closer += warp_err < copy_err
    assert closer >= 3


def _run(trained: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "i2i-run"), "--checkpoint", str(trained), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_a_real_portrait_driven_by_a_real_photo_and_by_json(trained, astronaut, tmp_path):
    out = tmp_path / "posed.png"
    proc = _run(trained, "--portrait", str(astronaut / "portrait.png"), "--driving", str(astronaut / "turned.png"),
                "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (64, 64)
    _, points = face(0, 1, 3, 64)
    (tmp_path / "driving.json").write_text(json.dumps({"landmarks": points.tolist()}))
    proc = _run(trained, "--portrait", str(astronaut / "portrait.png"), "--driving", str(tmp_path / "driving.json"),
                "--landmarks", "dlib", "--out", str(tmp_path / "json.png"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_few_shot_portraits_and_given_landmarks(trained, faces, tmp_path):
    frames = sorted((faces / "test").iterdir())[0]
    cache = json.loads((frames / "landmarks.json").read_text())["frames"]
    args = []
    for name in ("0000.png", "0002.png"):
        (tmp_path / f"{name}.json").write_text(json.dumps(cache[name]))
        args += ["--portrait", str(frames / name), "--portrait-landmarks", str(tmp_path / f"{name}.json")]
    proc = _run(
        trained, *args, "--driving", str(tmp_path / "0002.png.json"), "--out", str(tmp_path / "few.png")
    )
    assert proc.returncode == 0, proc.stderr


def _driving_clip(astronaut: Path, path: Path, angles: tuple[float, ...], blank_last: bool = False) -> Path:
    """The astronaut's face turned by each angle in turn (and a faceless frame last)."""
    from i2i.data.video import VideoWriter

    photo = Image.open(astronaut / "portrait.png")
    frames = [photo.rotate(a, resample=Image.Resampling.BICUBIC) for a in angles]
    if blank_last:
        frames.append(Image.open(astronaut / "blank.png"))
    clip = torch.stack([torch.from_numpy(np.array(f)).permute(2, 0, 1).float() / 127.5 - 1 for f in frames])
    with VideoWriter(path, fps=5) as writer:
        writer.write(clip)
    return path


def _frames(path: Path) -> torch.Tensor:
    from i2i.data.video import iter_video_frames

    return torch.cat(list(iter_video_frames(path)))


def test_a_driving_video_gives_a_video_and_faceless_frames_reuse_the_last(trained, astronaut, tmp_path):
    from i2i.data.video import probe_video
    from i2i.pipeline import load_pipeline, run_files

    clip = _driving_clip(astronaut, tmp_path / "driving.mp4", (0, 4, 8), blank_last=True)
    pipe = load_pipeline(trained, device="cpu")
    states = []
    new_state = pipe.reader.new_state
    pipe.reader.new_state = lambda: states.append(new_state()) or states[-1]
    raw = {"portrait": [str(astronaut / "portrait.png")], "driving": str(clip)}
    run_files(pipe, raw, tmp_path / "talking.mp4", seed=0)
    info = probe_video(tmp_path / "talking.mp4")
    assert (info.width, info.height, info.frames) == (64, 64, 4)
    assert len(states) == 1 and states[0].frames_without_face == 1
    assert states[0].reference is not None  # the video's first frame, kept in its own stream


def test_two_driving_videos_through_one_pipeline_give_what_each_gives_alone(astronaut, tmp_path):
    """A driving video is retargeted relative to its own first frame: the second video through a
    pipeline gives the frames it gives through a fresh one (before, it was retargeted against the
    first video's reference frame)."""
    from i2i.pipeline import load_pipeline, run_files

    first = _driving_clip(astronaut, tmp_path / "first.mp4", (0, 5, 10))
    second = _driving_clip(astronaut, tmp_path / "second.mp4", (-10, -5, 0))
    portrait = {"portrait": [str(astronaut / "portrait.png")]}
    shared = load_pipeline("face2img", device="cpu")  # the shipped model
    run_files(shared, {**portrait, "driving": str(first)}, tmp_path / "first_out.mp4", seed=0)
    run_files(shared, {**portrait, "driving": str(second)}, tmp_path / "after.mp4", seed=0)
    fresh = load_pipeline("face2img", device="cpu")
    run_files(fresh, {**portrait, "driving": str(second)}, tmp_path / "alone.mp4", seed=0)
    after, alone = _frames(tmp_path / "after.mp4"), _frames(tmp_path / "alone.mp4")
    assert (after - alone).abs().max() < 1e-6
    # the two videos' first frames differ in the input, yet each video starts from the portrait as
    # it is (relative motion): the first output frames agree, and the rest follow each own video
    assert (after[0] - _frames(tmp_path / "first_out.mp4")[0]).abs().mean() < 0.02
    assert (after[2] - _frames(tmp_path / "first_out.mp4")[2]).abs().mean() > 0.01


def test_no_face_is_a_one_line_error_naming_the_file(trained, astronaut, tmp_path):
    blank = astronaut / "blank.png"
    proc = _run(trained, "--portrait", str(blank), "--driving", str(astronaut / "turned.png"),
                "--out", str(tmp_path / "x.png"))  # fmt: skip
    assert proc.returncode == 2 and f"{blank}: no face found" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.png").exists()
    proc = _run(trained, "--portrait", str(astronaut / "portrait.png"), "--driving", str(blank),
                "--out", str(tmp_path / "x.png"))  # fmt: skip
    assert proc.returncode == 2 and f"{blank}: no face found" in proc.stderr, proc.stderr


def test_eval_reports_reenactment_identity_expression_and_flicker(trained, faces):
    from i2i.pipeline import load_pipeline
    from i2i_face2img.evaluate import evaluate

    result = evaluate(load_pipeline(trained, device="cpu"), faces, "test")
    result = result["metrics"]
    self = result["self_reenactment"]
    assert {"model", "warp_only", "portrait_copy"} == set(self)
    # references mean something: the warp is closer to the driving frame than the unmoved portrait,
    # and on the real portrait dlib reads the driving expression off the warp far better than off
    # the unchanged photo
    assert self["warp_only"]["l1"] < self["portrait_copy"]["l1"], self
    real = result["real_portrait_video"]
    assert real["warp_only"]["landmark_nme"] < 0.5 * real["portrait_copy"]["landmark_nme"], real
    assert real["portrait_copy"]["flicker"] == 0 and real["model"]["identity_distance"] >= 0


def test_clips_as_videos_or_frame_folders_get_a_landmark_cache_on_first_use(astronaut, tmp_path):
    """Real-face clips without landmarks: dlib finds them once, the cache is written beside each
    clip and read back the next time (no second detection)."""
    from i2i.config import load_config
    from i2i.data.video import VideoWriter
    from i2i.plugins import get_modality
    from i2i_face2img.data import FaceClips
    from i2i_face2img.landmarks import read_landmark_frames

    photo = Image.open(astronaut / "portrait.png")
    turned = [photo.rotate(a, resample=Image.Resampling.BICUBIC) for a in (0, 5, 10)]
    folder = tmp_path / "train" / "frames_clip"
    folder.mkdir(parents=True)
    for i, frame in enumerate(turned):
        frame.save(folder / f"{i:04d}.png")
    clip = torch.stack([torch.from_numpy(np.array(f)).permute(2, 0, 1).float() / 127.5 - 1 for f in turned])
    with VideoWriter(tmp_path / "train" / "video_clip.mp4", fps=5) as writer:
        writer.write(clip)
    cfg = load_config(get_modality("face2img"), sets=["data.size=32", "data.landmarks=dlib"]).data
    data = FaceClips(tmp_path, cfg, "train", True)
    assert len(data.clips) == 2 and len(data) == 6
    for cache in (folder / "landmarks.json", tmp_path / "train" / "video_clip.landmarks.json"):
        frames = read_landmark_frames(cache)
        assert len(frames) == 3 and all(p is not None for p in frames.values())
    sample = data[(0, 1)]
    assert sample["portrait"].shape == (3, 32, 32) and sample["driving_points"].shape == (68, 2)
    (folder / "0000.png").write_bytes(b"")  # detection would now fail: the cache is what is read
    assert len(FaceClips(tmp_path, cfg, "train", True)) == 6


def test_few_shot_finetuning_on_the_portraits_lowers_their_reconstruction_error(trained, faces):
    """--finetune-steps: a few steps of self-reenactment on the given portraits (here two frames of
    a held-out clip) cut the error of driving one to the other, through the engine's fine-tuning."""
    from i2i.engine.adapt import fine_tune
    from i2i.pipeline import load_pipeline
    from i2i_face2img.data import image_tensor
    from i2i_face2img.finetune import pairs_batch
    from i2i_face2img.landmarks import read_landmark_frames

    clip = sorted((faces / "test").iterdir())[0]
    marks = read_landmark_frames(clip / "landmarks.json")
    names = ["0000.png", "0004.png"]
    portraits = [image_tensor(Image.open(clip / n)) for n in names]
    batch = pairs_batch(portraits, [marks[n] for n in names])
    assert batch["portrait"].shape[0] == 4  # every portrait to every portrait
    pipe = load_pipeline(trained, device="cpu")
    losses = fine_tune(pipe, batch, steps=30, loss={"l1": 1.0}, lr=1e-3)
    assert losses[-1] < 0.8 * losses[0], losses
    assert pairs_batch(portraits[:1], [marks[names[0]]])["portrait"].shape[0] == 4  # one + its mirror
    assert not pipe.generator.training and not pipe.conditioner.training


def test_finetune_steps_from_the_command_line(trained, astronaut, tmp_path):
    proc = _run(trained, "--portrait", str(astronaut / "portrait.png"), "--driving", str(astronaut / "turned.png"),
                "--finetune-steps", "3", "--out", str(tmp_path / "tuned.png"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bad = _run(trained, "--portrait", str(astronaut / "portrait.png"), "--driving", str(astronaut / "turned.png"),
               "--finetune-steps", "lots", "--out", str(tmp_path / "x.png"))  # fmt: skip
    assert bad.returncode == 2 and "--finetune-steps" in bad.stderr and not (tmp_path / "x.png").exists()
    big = _run(trained, "--portrait", str(astronaut / "portrait.png"), "--driving", str(astronaut / "turned.png"),
               "--finetune-steps", "2001", "--out", str(tmp_path / "x.png"))  # fmt: skip
    assert (
        big.returncode == 2 and "--finetune-steps" in big.stderr and len(big.stderr.strip().splitlines()) <= 2
    )
