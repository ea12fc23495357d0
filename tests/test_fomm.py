"""first-order-model checkpoints in face2img: import, parity with the original code, the CLI.

tests/fixtures/fomm holds a reduced-width vox checkpoint saved as the original saves it, its YAML,
a portrait, driving frames and the frames the original `demo.make_animation` made from them
(README.md there says how). A missing fixture fails: skipping would hide a broken importer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i.data.images import image_to_tensor, read_image
from i2i.errors import InputError
from i2i.keys import VIDEO_FRAME
from i2i.pipeline import _collate, load_pipeline

FIXTURES = Path(__file__).parent / "fixtures" / "fomm"
CHECKPOINT = FIXTURES / "vox-cpk.pth.tar"
BIN = Path(sys.executable).parent
TOLERANCE = 1e-4  # max abs difference on [0, 1] frames


@pytest.fixture(scope="module")
def pipe():
    assert CHECKPOINT.is_file(), f"fixture missing: {CHECKPOINT}"
    return load_pipeline(CHECKPOINT, plugin="face2img", device="cpu")


def _portrait() -> torch.Tensor:
    return image_to_tensor(read_image(FIXTURES / "source.png"))


def _driving() -> torch.Tensor:
    return torch.from_numpy(np.load(FIXTURES / "driving.npy")).permute(0, 3, 1, 2).float() / 127.5 - 1


def _animate(pipe, motion: str | None, chunk: int) -> np.ndarray:
    """The frames `i2i-run` makes from the fixture's driving frames (as decoded video frames),
    `chunk` frames per generator call, as (T,H,W,3) in [0, 1]."""
    state = pipe.new_state()
    inputs = {"portrait": [_portrait()], VIDEO_FRAME: True, "motion": motion}
    samples = [pipe.prepare({**inputs, "driving": frame}, state) for frame in _driving()]
    outs = [pipe.generate(_collate(samples[i : i + chunk])) for i in range(0, len(samples), chunk)]
    return ((torch.cat(outs) + 1) / 2).permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("motion", ["relative", "absolute"])
@pytest.mark.parametrize("chunk", [1, 4])
def test_frames_match_the_original_make_animation(pipe, motion, chunk):
    """relative: make_animation(relative=True, adapt_movement_scale=True); absolute: relative=False.
    Every frame within 1e-4 on [0, 1], one frame per call or a chunk sharing the portrait's work."""
    expected = np.load(FIXTURES / f"expected_{motion}.npy")
    got = _animate(pipe, None if motion == "relative" else motion, chunk)
    assert got.shape == expected.shape == (4, 64, 64, 3)
    diffs = np.abs(got - expected).reshape(4, -1).max(1)
    assert diffs.max() <= TOLERANCE, diffs
    # the two modes really differ, so the check above tells them apart
    assert (
        np.abs(
            np.load(FIXTURES / "expected_relative.npy") - np.load(FIXTURES / "expected_absolute.npy")
        ).max()
        > 0.01
    )


def test_architecture_and_unknowns_come_from_weights_and_yaml(pipe):
    gen = pipe.config.model.generator
    assert gen["name"] == "fomm"
    inferred = {k: gen[k] for k in ("num_kp", "block_expansion", "max_features", "num_down_blocks",
                                    "num_bottleneck_blocks", "kp_max_features", "motion_num_blocks")}  # fmt: skip
    assert inferred == {"num_kp": 5, "block_expansion": 8, "max_features": 32, "num_down_blocks": 3,
                        "num_bottleneck_blocks": 1, "kp_max_features": 16, "motion_num_blocks": 3}  # fmt: skip
    assert gen["kp_scale_factor"] == gen["motion_scale_factor"] == 0.25  # read off the Gaussian kernels
    assert gen["estimate_jacobian"] and gen["estimate_occlusion_map"]
    assert pipe.config.model.conditioner.to_dict() == {"name": "fomm", "frame_size": 64, "motion": "relative"}
    assert pipe.config.data["size"] == 64  # dataset_params.frame_shape of the YAML


def test_checkpoint_and_its_optimiser_states_load_with_weights_only():
    cpk = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert {"generator", "kp_detector", "discriminator", "epoch"} <= set(cpk)
    for name in ("optimizer_generator", "optimizer_kp_detector", "optimizer_discriminator"):
        assert cpk[name]["state"] and cpk[name]["param_groups"][0]["betas"] == (0.5, 0.999)


def test_imported_model_saves_as_an_i2i_model_file(pipe, tmp_path):
    from i2i.engine import checkpoint as ckpt

    path = tmp_path / "fomm.safetensors"
    modules = {"generator": pipe.generator, "conditioner": pipe.conditioner}
    ckpt.save_model(path, pipe.config.to_json(), modules, {"plugin": "face2img"})
    again = load_pipeline(path, device="cpu")
    assert np.abs(_animate(again, None, 4) - np.load(FIXTURES / "expected_relative.npy")).max() <= TOLERANCE


def test_without_the_yaml_one_line_says_what_was_assumed(tmp_path):
    from i2i_face2img.fomm_import import import_fomm

    shutil.copy(CHECKPOINT, tmp_path / "vox-cpk.pth.tar")
    lines: list[str] = []
    override, _ = import_fomm(tmp_path / "vox-cpk.pth.tar", notice=lines.append)
    assert len(lines) == 1 and "no first-order-model YAML config beside it" in lines[0]
    assert "temperature 0.1" in lines[0] and "frame_shape 256" in lines[0]
    assert override["model"]["generator"]["kp_temperature"] == 0.1
    assert override["model"]["conditioner"]["frame_size"] == 256


def test_a_yaml_of_another_model_or_another_file_is_a_one_line_error(tmp_path):
    from i2i_face2img.fomm_import import import_fomm

    shutil.copy(CHECKPOINT, tmp_path / "vox-cpk.pth.tar")
    text = (FIXTURES / "vox-tiny.yaml").read_text().replace("num_kp: 5", "num_kp: 10")
    (tmp_path / "vox-256.yaml").write_text(text)
    with pytest.raises(
        InputError, match=r"vox-256.yaml: does not describe the checkpoint beside it \(num_kp is 10"
    ):
        import_fomm(tmp_path / "vox-cpk.pth.tar")
    other = tmp_path / "other.pth"
    torch.save({"model": {"w": torch.zeros(2)}}, other)
    with pytest.raises(
        InputError, match="not a first-order-model checkpoint: no 'generator' and 'kp_detector'"
    ):
        import_fomm(other)


def test_i2i_run_animates_a_portrait_with_a_driving_video(tmp_path):
    """The command of the docs, on an mp4 (lossy both ways: compared loosely), and a driving photo
    (absolute motion: the photo's pose)."""
    from i2i.data.video import VideoWriter, iter_video_frames

    video = tmp_path / "driving.mp4"
    with VideoWriter(video, fps=10) as writer:
        writer.write(_driving())
    out = tmp_path / "out.mp4"
    cmd = [str(BIN / "i2i-run"), "--plugin", "face2img", "--checkpoint", str(CHECKPOINT),
           "--portrait", str(FIXTURES / "source.png"), "--driving", str(video), "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    frames = torch.cat(list(iter_video_frames(out)))
    assert frames.shape == (4, 3, 64, 64)
    got = ((frames + 1) / 2).permute(0, 2, 3, 1).numpy()
    assert np.abs(got - np.load(FIXTURES / "expected_relative.npy")).mean() < 0.03


def test_finetune_steps_are_refused_for_fomm_models(pipe, tmp_path):
    from i2i.pipeline import run_files

    raw = {
        "portrait": [str(FIXTURES / "source.png")],
        "driving": str(FIXTURES / "source.png"),
        "finetune_steps": "5",
    }
    with pytest.raises(InputError, match="first-order-model checkpoints are not fine-tuned"):
        run_files(pipe, raw, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_a_driving_photo_takes_its_pose_absolutely(pipe, tmp_path):
    from PIL import Image

    frame = np.load(FIXTURES / "driving.npy")[2]
    photo = tmp_path / "driving.png"
    Image.fromarray(frame).save(photo)
    batch = _collate([pipe.prepare({"portrait": [_portrait()], "driving": str(photo)})])
    got = ((pipe.generate(batch) + 1) / 2).permute(0, 2, 3, 1).numpy()[0]
    assert np.abs(got - np.load(FIXTURES / "expected_absolute.npy")[2]).max() <= TOLERANCE
    with pytest.raises(InputError, match="not landmarks"):
        pipe.prepare({"portrait": [_portrait()], "driving": str(tmp_path / "marks.json")})


def test_the_portraits_work_kept_between_calls_follows_weight_changes(tmp_path):
    """In inference the portrait's features and keypoints are kept from the previous call (a
    video's chunks share them); changing a weight in place must not reuse them."""
    pipe = load_pipeline(CHECKPOINT, plugin="face2img", device="cpu")
    first = _animate(pipe, None, 2)
    with torch.no_grad():
        pipe.generator.first.conv.weight.neg_()
        pipe.generator.kp_detector.kp.bias.add_(0.3)
    changed = _animate(pipe, None, 2)
    fresh = load_pipeline(CHECKPOINT, plugin="face2img", device="cpu")
    fresh.generator.load_state_dict(pipe.generator.state_dict())
    assert np.abs(changed - first).max() > 1e-3
    assert np.abs(changed - _animate(fresh, None, 4)).max() <= TOLERANCE
