"""ESRGAN / Real-ESRGAN checkpoints in img2img: the importer recognises the files through spandrel,
infers the RRDBNet from the weights, and reproduces the originals' outputs.

tests/fixtures/esrgan holds reduced-width networks with seeded random weights saved as the
originals save them, with the outputs of the originals' own inference code (ESRGAN's test.py at
its first release and at HEAD, Real-ESRGAN's RealESRGANer): see its README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.errors import InputError
from i2i.pipeline import load_pipeline, read_input
from i2i_img2img.esrgan_import import import_esrgan, load_esrgan

FIXTURES = Path(__file__).parent / "fixtures" / "esrgan"
MODELS = {m["file"]: m for m in json.loads((FIXTURES / "fixtures.json").read_text())["models"]}
TOLERANCE = 1e-4  # max abs difference on [0, 1] images


def _expected(name: str) -> np.ndarray:
    return np.load(FIXTURES / name.replace(".pth", "_out.npy"))


def _generate(pipe, name: str) -> np.ndarray:
    image = read_input("image", FIXTURES / MODELS[name]["input"])
    return pipe.generate({"input": image[None]})[0].add(1).div(2).numpy()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_import_reproduces_the_originals_outputs(name: str) -> None:
    """Each key layout and wrapper (old `model.0`, ESRGAN `RRDB_trunk`, BasicSR `body` in
    params_ema / params), x4, x2 and x1 with pixel-unshuffle, odd input sizes (padded to the
    unshuffle factor and cropped back): the pipeline's output equals the original's on [0, 1],
    with the eval tail run whole and in bands."""
    pipe = load_pipeline(FIXTURES / name, plugin="img2img", device="cpu")
    expected = _expected(name)
    out = _generate(pipe, name)
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() <= TOLERANCE
    assert expected.std() > 0.05  # the fixture's output is not flat: the comparison means something
    # the eval tail in bands of one trunk row (each with its halo) is the same network
    pipe.generator.net.tail_rows = 1
    assert np.abs(_generate(pipe, name) - expected).max() <= TOLERANCE


@pytest.mark.parametrize("name", sorted(MODELS))
def test_hyper_parameters_come_from_the_weights(name: str) -> None:
    made = MODELS[name]
    override, generator = import_esrgan(FIXTURES / name)
    gen = override["model"]["generator"]
    assert gen["name"] == "rrdb"
    assert (gen["nf"], gen["nb"], gen["gc"], gen["scale"]) == (
        made["nf"],
        made["nb"],
        made["gc"],
        made["scale"],
    )
    assert gen["unshuffle"] == {4: 1, 2: 2, 1: 4}[made["scale"]]
    assert override["data"]["scale"] == made["scale"] and override["model"]["conditioner"]["task"] == "sr"
    assert generator.size_multiple == gen["unshuffle"]


def test_spandrel_reads_the_same_architecture() -> None:
    """On a gc-32 file (all published models; spandrel cannot load other gc), spandrel's own
    loader agrees with the importer's reading of the weights."""
    from spandrel import ModelLoader

    desc = ModelLoader().load_from_file(FIXTURES / "esrgan_old_x4.pth")
    config, _ = load_esrgan(FIXTURES / "esrgan_old_x4.pth")
    hp = desc.model.hyperparameters
    assert (hp["num_filters"], hp["num_blocks"], desc.scale) == (config["nf"], config["nb"], config["scale"])
    assert (desc.input_channels, desc.output_channels) == (config["in_nc"], config["out_nc"])


def _run(argv: list[str]) -> int:
    from i2i.cli.main import run_main

    with pytest.raises(SystemExit) as info:
        run_main(argv)
    return int(info.value.code or 0)


def test_i2i_run_writes_the_originals_png(tmp_path: Path) -> None:
    """`i2i-run --plugin img2img --checkpoint RealESRGAN_x2plus-like.pth` on a folder: each PNG is the
    original's rounded output (RealESRGANer rounds too)."""
    name = "realesrgan_x2plus.pth"
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(FIXTURES / MODELS[name]["input"]).save(folder / "a.png")
    out = tmp_path / "out"
    assert (
        _run(
            [
                "--plugin",
                "img2img",
                "--checkpoint",
                str(FIXTURES / name),
                "--input",
                str(folder),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    written = np.asarray(Image.open(out / "a.png"), dtype=np.int16)
    original = (_expected(name).transpose(1, 2, 0) * 255).round().astype(np.int16)
    assert written.shape == original.shape
    assert np.abs(written - original).max() <= 1


def test_onnx_export_of_an_imported_model(tmp_path: Path) -> None:
    """The imported x2 model (pixel-unshuffle) exports and ONNX Runtime gives PyTorch's images."""
    from i2i.export import export_onnx

    result = export_onnx(FIXTURES / "realesrgan_x2plus.pth", tmp_path / "x2.onnx", plugin="img2img")
    assert (tmp_path / "x2.onnx").is_file()
    assert result.max_abs_diff <= 1e-3


# ---- files that are not ESRGAN ---------------------------------------------------------------------
def _compact_state() -> dict[str, torch.Tensor]:
    """Real-ESRGAN's other network (SRVGGNetCompact, realesr-general-x4v3), as spandrel builds it."""
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=4).state_dict()


def test_another_architecture_is_named_not_run(tmp_path: Path, capsys) -> None:
    path = tmp_path / "realesr-general-x4v3.pth"
    torch.save({"params": _compact_state()}, path)
    with pytest.raises(InputError, match="recognises it as a Compact model"):
        load_esrgan(path)
    assert (
        _run(
            [
                "--plugin",
                "img2img",
                "--checkpoint",
                str(path),
                "--input",
                str(FIXTURES / "esrgan_x4_in.png"),
                "--out",
                str(tmp_path / "o.png"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Compact" in err and "ESRGAN RRDBNet" in err
    assert not (tmp_path / "o.png").exists()


def test_unknown_keys_and_broken_rrdb_say_what_they_looked_like(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.pth"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, unknown)
    with pytest.raises(InputError, match="not an ESRGAN RRDBNet: spandrel recognises no architecture"):
        load_esrgan(unknown)
    state = torch.load(FIXTURES / "realesrgan_x4plus.pth", weights_only=True)["params_ema"]
    state["body.0.rdb2.conv3.weight"] = state["body.0.rdb2.conv3.weight"][:, :-1]  # one input channel short
    broken = tmp_path / "broken.pth"
    torch.save({"params_ema": state}, broken)
    with pytest.raises(InputError, match="looks like an ESRGAN RRDBNet but its weights do not fit"):
        load_esrgan(broken)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        load_esrgan(text)


# ---- the realesrgan preset ---------------------------------------------------------------------------
def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_full_size_parameter_counts() -> None:
    """Counts of the originals at full size, measured by make_fixtures.py on BasicSR's
    RRDBNet(3, 3, scale=4 | 2) and Real-ESRGAN's UNetDiscriminatorSN(3, 64, True)."""
    from i2i.config import load_config
    from i2i.engine.build import build_discriminator, build_generator
    from i2i.plugins import get_manager
    from i2i_img2img.rrdb import rrdb

    config = load_config(get_manager().get_modality("img2img"), "realesrgan")
    with torch.device("meta"):
        assert _count(build_generator(config)) == 16_697_987
        assert _count(build_discriminator(config)) == 4_376_897
        assert _count(rrdb(scale=2, unshuffle=2)) == 16_703_171  # RealESRGAN_x2plus
    assert (
        config.optim.lr_g == 1e-4 and list(config.optim.betas_g) == [0.9, 0.99] and config.ema.decay == 0.999
    )
    assert config.loss.generator.adversarial == 0.1 and config.loss.generator.l1 == 0.0
    assert config.loss.generator.esrgan_l1.weight == 1.0 and config.loss.generator.esrgan_perceptual.usm


def test_usm_sharpening_matches_basicsr() -> None:
    """esrgan_l1 / esrgan_perceptual compare with BasicSR's USMSharp of the target (make_fixtures.py
    ran BasicSR's USMSharp on usm_in.npy)."""
    from i2i_img2img.esrgan_loss import usm_sharpen

    image = torch.from_numpy(np.load(FIXTURES / "usm_in.npy"))[None]
    out = usm_sharpen(image)[0].numpy()
    assert np.abs(out - np.load(FIXTURES / "usm_out.npy")).max() <= 1e-5
    assert np.abs(out - image[0].numpy()).max() > 0.01  # it did sharpen


def _seeded_vgg19_features(seed: int = 0) -> dict[str, torch.Tensor]:
    """The random VGG19 `features` weights make_fixtures.py gave BasicSR's PerceptualLoss."""
    from torchvision.models.vgg import cfgs, make_layers

    g = torch.Generator().manual_seed(seed)
    state = make_layers(cfgs["E"], batch_norm=False).state_dict()
    for key, value in state.items():
        fan_in = value[0].numel() if value.dim() > 1 else 1
        std = (2.0 / fan_in) ** 0.5 if value.dim() > 1 else 0.01
        state[key] = torch.randn(value.shape, generator=g) * std
    return state


def test_perceptual_term_matches_basicsr(monkeypatch) -> None:
    """esrgan_perceptual (usm on) equals BasicSR's PerceptualLoss with Real-ESRGAN x4plus's layer
    weights against the USM-sharpened target, on the same (random) VGG19 weights."""
    from i2i.interfaces import Condition
    from i2i.terms import StepContext
    from i2i_img2img import esrgan_loss

    monkeypatch.setattr(esrgan_loss, "load_vgg19_features", _seeded_vgg19_features)
    term = esrgan_loss.ESRGANPerceptual(usm=True)
    real = torch.from_numpy(np.load(FIXTURES / "usm_in.npy"))[None] * 2 - 1
    fake = torch.from_numpy(np.load(FIXTURES / "perceptual_fake.npy"))[None] * 2 - 1
    ctx = StepContext(0, "vanilla", {}, Condition(maps=real), real, fake, [], lambda image, cond: [])
    expected = json.loads((FIXTURES / "fixtures.json").read_text())["losses"]
    value = float(term(ctx))
    assert value == pytest.approx(expected["perceptual(perceptual_fake.npy, usm_out.npy)"], rel=1e-5)


def test_a_safetensors_copy_imports_too(tmp_path: Path) -> None:
    """ESRGAN files converted to .safetensors (as chaiNNer users keep them) give the same model."""
    from safetensors.torch import save_file

    state = torch.load(FIXTURES / "realesrgan_x4plus.pth", weights_only=True)["params_ema"]
    path = tmp_path / "RealESRGAN_x4plus.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    pipe = load_pipeline(path, plugin="img2img", device="cpu")
    assert (
        np.abs(_generate(pipe, "realesrgan_x4plus.pth") - _expected("realesrgan_x4plus.pth")).max()
        <= TOLERANCE
    )


@pytest.mark.parametrize("upsample,unshuffle", [(4, 1), (4, 2), (4, 4), (8, 1)])
def test_the_eval_tail_in_bands_is_the_whole_tail(upsample: int, unshuffle: int, monkeypatch) -> None:
    """In eval mode RRDBNet runs its tail (upsampling, HR and output convolutions) in bands of
    trunk rows, each with `tail_halo` rows of context: any band height gives the output of the
    whole tail (training mode), and a halo one row short does not (the halo is what makes it exact)."""
    from i2i_img2img.rrdb import RRDBNet

    torch.manual_seed(0)
    net = RRDBNet(3, 3, 16, 1, 8, upsample, unshuffle)
    x = torch.rand(1, 3, 44, 36)
    with torch.no_grad():
        whole = net.train()(x)
        net.eval()
        assert net.tail_halo() == 2  # x4: 5 output rows of reach = 1.25 trunk rows; x8: 9 / 8
        for rows in (1, 3, 5):
            net.tail_rows = rows
            assert float((net(x) - whole).abs().max()) < 1e-6
        net.tail_rows = 3
        monkeypatch.setattr(RRDBNet, "tail_halo", lambda self: 1)
        assert float((net(x) - whole).abs().max()) > 1e-3
