"""Original pix2pix colorization generators (`--model colorization`: L in, ab out, CIE Lab) import
into img2img and give the original's colour photos.

The fixtures in tests/fixtures/pix2pix-colorization were made by the original code itself
(make_fixtures.py, README.md): its test.py on seeded reduced-width generators with perturbed
BatchNorm statistics, recording the raw ab output, the float RGB of its `lab2rgb` and the PNG it
saved. The colour conversions are also checked against scikit-image directly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.data.color import lab_to_rgb, rgb_to_lab, rgb_to_lightness
from i2i.errors import ConfigError
from i2i.pipeline import load_pipeline, read_input

FIXTURE = Path(__file__).parent / "fixtures" / "pix2pix-colorization"
INPUTS = FIXTURE / "inputs"
RESNET = FIXTURE / "resnet_6blocks-ngf8-batch"
UNET = FIXTURE / "unet_128-ngf3-batch"
CASES = [
    (RESNET, "astronaut.png"),
    (RESNET, "coffee.png"),
    (RESNET, "camera_gray.jpg"),
    (UNET, "astronaut.png"),
]
TOLERANCE = 1e-4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pipes() -> dict[Path, object]:
    return {
        folder: load_pipeline(folder / "latest_net_G.pth", plugin="img2img", device="cpu")
        for folder in (RESNET, UNET)
    }


def _expected(folder: Path, name: str, kind: str) -> np.ndarray:
    return np.load(folder / "expected" / f"{Path(name).stem}_{kind}.npy")


def _batch(pipe, name: str) -> dict:
    from i2i.pipeline import _collate

    return _collate([pipe.prepare({"input": read_input("image", INPUTS / name)})])


# ---- the colour conversions against scikit-image -------------------------------------------------
def _probe_rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    rgb = rng.random((48, 48, 3))
    rgb[0, :8] = 0.0
    rgb[1, :8] = 1.0
    rgb[2, :12] = np.linspace(0.0, 0.06, 12)[:, None]  # both sides of the sRGB gamma's knee
    return rgb


@pytest.mark.parametrize("dtype,tol", [(torch.float32, TOLERANCE), (torch.float64, 1e-9)])
def test_color_conversions_match_skimage(dtype: torch.dtype, tol: float) -> None:
    """rgb2lab and lab2rgb as skimage computes them (the original's own calls), in the scaled
    units the colorization model sees (L / 50, ab / 110, RGB in [0, 1]): out-of-gamut Lab,
    negative Z and both branches of every threshold included."""
    from skimage import color

    rgb = _probe_rgb()
    ref = color.rgb2lab(rgb)
    ours = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).to(dtype)).permute(1, 2, 0).double().numpy()
    scale = np.array([50.0, 110.0, 110.0])
    assert np.abs(ours - ref).max(axis=(0, 1)).__truediv__(scale).max() <= tol
    lightness = rgb_to_lightness(torch.from_numpy(rgb).permute(2, 0, 1).to(dtype))[0].double().numpy()
    assert np.abs(lightness - ref[..., 0]).max() / 50.0 <= tol

    rng = np.random.default_rng(1)
    lab = np.concatenate([rng.random((48, 48, 1)) * 100, (rng.random((48, 48, 2)) * 2 - 1) * 110], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about the negative Z it clips
        ref_rgb = color.lab2rgb(lab)
    ours_rgb = lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1).to(dtype)).permute(1, 2, 0).double().numpy()
    assert np.abs(ours_rgb - ref_rgb).max() <= tol


# ---- import ----------------------------------------------------------------------------------
def test_one_in_two_out_is_imported_as_lab_colorization() -> None:
    """1 input and 2 output channels is the original's colorization model; 3 -> 3 stays RGB."""
    from i2i_img2img.lab import LabColorizer
    from i2i_img2img.pix2pix_import import import_pix2pix

    for folder, family in ((RESNET, "resnet"), (UNET, "unet")):
        override, generator = import_pix2pix(folder / "latest_net_G.pth")
        model = override["model"]
        assert model["generator"]["name"] == "lab_colorizer"
        net = model["generator"]
        assert (net["net"], net["in_channels"], net["out_channels"]) == (family, 1, 2)
        assert model["conditioner"] == {"task": "colorize", "input_channels": 1, "color_space": "lab"}
        assert override["data"]["task"] == "colorize"
        assert isinstance(generator, LabColorizer)
    rgb = (
        Path(__file__).parent / "fixtures" / "pix2pix-reference" / "unet_256-ngf16-batch" / "latest_net_G.pth"
    )
    override, generator = import_pix2pix(rgb)
    assert override["model"]["generator"]["name"] == "unet"
    assert "conditioner" not in override["model"]
    assert not isinstance(generator, LabColorizer)


def test_lab_options_are_checked() -> None:
    from i2i_img2img.conditioner import Img2ImgConditioner
    from i2i_img2img.lab import lab_colorizer

    with pytest.raises(ConfigError, match="color_space"):
        Img2ImgConditioner(color_space="hsv")
    with pytest.raises(ConfigError, match="input_channels must be 1"):
        Img2ImgConditioner(input_channels=3, color_space="lab")
    with pytest.raises(ConfigError, match="in_channels 1, out_channels 2"):
        lab_colorizer("unet", in_channels=1, out_channels=3, num_downs=3, ngf=4)


# ---- parity with the original ---------------------------------------------------------------------
@pytest.mark.parametrize("folder,name", CASES, ids=[f"{f.name}-{n}" for f, n in CASES])
def test_python_api_matches_the_original(pipes, folder: Path, name: str) -> None:
    """The raw ab output (the original's fake_B) and the RGB photo (its fake_B_rgb / 255) to 1e-4,
    for colour and gray inputs: the L the conditioner makes is the one the original's dataset made."""
    pipe = pipes[folder]
    batch = _batch(pipe, name)
    with torch.no_grad():
        cond = pipe.conditioner(batch)
        chroma = pipe.generator.chroma(cond)[0].permute(1, 2, 0).numpy()
    assert np.abs(chroma - _expected(folder, name, "ab")).max() <= TOLERANCE
    rgb = pipe.generate(batch, seed=0)[0].add(1).div(2).permute(1, 2, 0).numpy()
    expected = _expected(folder, name, "rgb")
    assert rgb.shape == expected.shape
    assert np.abs(rgb - expected).max() <= TOLERANCE


def _run(argv: list[str]) -> int:
    from i2i.cli.main import run_main

    with pytest.raises(SystemExit) as info:
        run_main(argv)
    return info.value.code


def _png(path: Path) -> np.ndarray:
    image = Image.open(path)
    assert image.mode == "RGB"
    return np.asarray(image, dtype=np.int16)


def _original_png(folder: Path, name: str) -> np.ndarray:
    return _png(folder / "expected" / f"{Path(name).stem}_fake_B_rgb.png")


@pytest.mark.parametrize("folder,name", [(UNET, "astronaut.png"), (RESNET, "camera_gray.jpg")])
def test_cli_writes_the_originals_png(tmp_path: Path, folder: Path, name: str) -> None:
    """`i2i-run --checkpoint latest_net_G.pth` writes a 3-channel PNG within 1/255 of the
    original's (it truncates to uint8, i2i rounds), from a colour photo and from a gray JPEG."""
    out = tmp_path / "color.png"
    argv = ["--plugin", "img2img", "--checkpoint", str(folder / "latest_net_G.pth")]
    assert _run([*argv, "--input", str(INPUTS / name), "--out", str(out), "--seed", "3"]) == 0
    assert np.abs(_png(out) - _original_png(folder, name)).max() <= 1


def test_cli_on_a_folder(tmp_path: Path) -> None:
    """A directory of photos (different sizes, colour and gray) gives one original PNG each."""
    names = ["astronaut.png", "coffee.png", "camera_gray.jpg"]
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes((INPUTS / name).read_bytes())
    out = tmp_path / "out"
    argv = ["--plugin", "img2img", "--checkpoint", str(RESNET / "latest_net_G.pth")]
    assert _run([*argv, "--input", str(folder), "--out", str(out)]) == 0
    for name in names:
        assert np.abs(_png(out / f"{Path(name).stem}.png") - _original_png(RESNET, name)).max() <= 1


def test_cli_on_a_video(pipes, tmp_path: Path) -> None:
    """Video in, colour video out: each frame is the model's colour photo of the decoded frame
    (compared at 1/4 resolution: H.264 stores colour at half resolution, and lossily)."""
    import torch.nn.functional as F

    from i2i.data.video import VideoWriter, iter_video_frames

    frame = read_input("image", INPUTS / "astronaut.png")[None]
    video = tmp_path / "gray.mp4"
    with VideoWriter(video, fps=5) as writer:
        writer.write(torch.cat([frame, frame.flip(-1), frame]))
    out = tmp_path / "color.mp4"
    argv = ["--plugin", "img2img", "--checkpoint", str(UNET / "latest_net_G.pth")]
    assert _run([*argv, "--input", str(video), "--out", str(out)]) == 0
    decoded = torch.cat(list(iter_video_frames(video)))
    colour = torch.cat(list(iter_video_frames(out)))
    assert colour.shape == decoded.shape == (3, 3, 128, 128)
    expected = pipes[UNET].generate({"input": decoded})
    assert (F.avg_pool2d(colour, 4) - F.avg_pool2d(expected, 4)).abs().mean() < 0.03
    assert (expected[:, 0] - expected[:, 2]).abs().mean() > 0.1  # coloured, not gray


# ---- the Lab convention travels with the model -------------------------------------------------
def test_saved_model_file_keeps_lab(pipes, tmp_path: Path) -> None:
    """An imported model saved as an i2i model file rebuilds as the Lab colorizer, same outputs."""
    from i2i.engine import checkpoint as ckpt

    pipe = pipes[UNET]
    path = tmp_path / "colorize.safetensors"
    modules = {"generator": pipe.generator, "conditioner": pipe.conditioner}
    ckpt.save_model(path, pipe.config.to_json(), modules, {"plugin": "img2img"})
    again = load_pipeline(path, device="cpu")
    assert again.config.model.conditioner.color_space == "lab"
    assert again.config.model.generator.name == "lab_colorizer"
    batch = _batch(again, "astronaut.png")
    rgb = again.generate(batch)[0].add(1).div(2).permute(1, 2, 0).numpy()
    assert np.abs(rgb - _expected(UNET, "astronaut.png", "rgb")).max() <= TOLERANCE


def test_onnx_export_keeps_lab(tmp_path: Path) -> None:
    """`i2i export` of the imported checkpoint: the graph maps L to the RGB photo (lab2rgb inside)."""
    ort = pytest.importorskip("onnxruntime")
    from i2i.export import export_onnx

    out = tmp_path / "colorize.onnx"
    result = export_onnx(RESNET / "latest_net_G.pth", out, plugin="img2img")
    assert result.max_abs_diff <= 1e-3
    pipe = load_pipeline(RESNET / "latest_net_G.pth", plugin="img2img", device="cpu")
    batch = _batch(pipe, "coffee.png")
    maps = pipe.conditioner(batch).maps.numpy()
    (image,) = ort.InferenceSession(str(out)).run(["image"], {"maps": maps})
    expected = _expected(RESNET, "coffee.png", "rgb")
    assert np.abs((image[0].transpose(1, 2, 0) + 1) / 2 - expected).max() <= 1e-3


def test_fine_tune_from_the_original_colorization_checkpoint(pipes, tmp_path: Path) -> None:
    """`i2i-train --init latest_net_G.pth --config colorize`: the run keeps the Lab colorizer, and
    one step at learning rate 0 leaves the imported weights as they were (only BatchNorm's
    running statistics move, as in the original's training)."""
    import subprocess
    import sys

    from i2i_img2img.demo import write_demo

    write_demo(tmp_path / "data", n=4, seed=0, size=64)
    run = tmp_path / "run"
    sets = ["train.steps=1", "optim.lr_g=0.0", "data.load_size=64", "data.crop_size=64",
            "train.tensorboard=false", "train.precision=fp32"]  # fmt: skip
    cmd = [str(Path(sys.executable).parent / "i2i-train"), "--plugin", "img2img", "--config", "colorize",
           "--init", str(RESNET / "latest_net_G.pth"), "--data", str(tmp_path / "data"), "--out", str(run),
           "--quiet", *[a for s in sets for a in ("--set", s)]]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    tuned = load_pipeline(run / "model.safetensors", device="cpu")
    assert tuned.config.model.conditioner.color_space == "lab"
    assert tuned.config.model.generator.name == "lab_colorizer"
    imported = dict(pipes[RESNET].generator.named_parameters())
    for name, value in tuned.generator.named_parameters():
        assert torch.equal(value, imported[name]), name
    rgb = tuned.generate(_batch(tuned, "astronaut.png"))[0].add(1).div(2).permute(1, 2, 0).numpy()
    assert np.abs(rgb - _expected(RESNET, "astronaut.png", "rgb")).mean() < 0.05


def test_colorize_lab_preset_is_the_originals_architecture() -> None:
    """`--config colorize_lab` builds the original's colorization generator at full size:
    54,409,858 parameters, counted from the original's `define_G(1, 2, 64, "unet_256",
    norm="batch", use_dropout=True)` at commit c3268ed. Its discriminator reads L + RGB (4
    channels), so it has 1,024 more weights than the original's L + ab one (2,765,633)."""
    from i2i.config import load_config
    from i2i.engine.build import build_discriminator, build_generator
    from i2i.plugins import get_manager
    from i2i_img2img.lab import LabColorizer

    config = load_config(get_manager().get_modality("img2img"), "colorize_lab")
    assert config.model.conditioner.color_space == "lab"
    with torch.device("meta"):
        generator = build_generator(config)
        discriminator = build_discriminator(config)
    assert isinstance(generator, LabColorizer)
    assert sum(p.numel() for p in generator.parameters()) == 54_409_858
    assert sum(p.numel() for p in discriminator.parameters()) == 2_765_633 + 64 * 4 * 4
