"""Importing generators of the original SPADE code (NVlabs/SPADE) reproduces its outputs.

tests/fixtures/spade holds three small models saved by the original's own save path with its
opt.txt, their inputs, and the outputs of the original's `Pix2PixModel(mode='inference')` (see
its README and make_fixtures.py). A missing fixture fails: skipping would hide a broken importer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.errors import InputError
from i2i.pipeline import draw_noise, load_pipeline, read_input

FIXTURES = Path(__file__).parent / "fixtures" / "spade"
MORE = FIXTURES / "more-aspect2-dontcare-instance"  # no VAE, don't care, instance edges, more, aspect 2
VAE = FIXTURES / "vae-normal-instance5x5"  # VAE + encoder, no instance channel, spadeinstance5x5
MOST = FIXTURES / "most-batch-instance"  # most upsampling (up_4), spectralspadebatch3x3
TOLERANCE = 1e-4  # on [-1, 1]


@pytest.fixture(scope="module")
def pipes() -> dict[Path, object]:
    assert MORE.is_dir(), f"SPADE fixtures not found at {FIXTURES}"
    return {
        d: load_pipeline(d / "latest_net_G.pth", plugin="seg2img", device="cpu") for d in (MORE, VAE, MOST)
    }


def _inputs(folder: Path, stem: str, style: bool = True) -> dict[str, torch.Tensor]:
    raw = {"labels": read_input("labels", folder / f"label_{stem}.png")}
    if (folder / f"inst_{stem}.png").is_file():
        raw["instances"] = read_input("labels", folder / f"inst_{stem}.png")
    if style and (folder / f"img_{stem}.png").is_file():
        raw["style"] = read_input("image", folder / f"img_{stem}.png")
    return raw


def _batch(pipe, folder: Path, stem: str, style: bool = True) -> dict[str, torch.Tensor]:
    return torch.utils.data.default_collate([pipe.prepare(_inputs(folder, stem, style))])


def _expected(folder: Path, name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(folder / f"{name}.npy"))


# ---- parity with the original's inference ------------------------------------------------------
@pytest.mark.parametrize("stem", ["a", "b"])
def test_dontcare_instance_edges_more_upsampling_aspect_ratio(pipes, stem: str) -> None:
    """label_nc 6 + don't care (255 pixels) + instance edges, "more", 128 x 64 (aspect 2); label
    map b is 200 x 90 and is resized as the original's transform does (PIL nearest)."""
    pipe = pipes[MORE]
    out = pipe.generate(_batch(pipe, MORE, stem))
    expected = _expected(MORE, f"expected_{stem}")
    assert out.shape == expected.shape == (1, 3, 64, 128)
    assert (out - expected).abs().max() <= TOLERANCE


def test_most_upsampling_and_batch_norm(pipes) -> None:
    pipe = pipes[MOST]
    out = pipe.generate(_batch(pipe, MOST, "a"))
    assert out.shape == (1, 3, 128, 128)
    assert (out - _expected(MOST, "expected_a")).abs().max() <= TOLERANCE


def test_vae_style_gives_the_encoders_mean(pipes) -> None:
    """--style: z is the encoder's mean, deterministic (the original with reparameterize -> mu)."""
    pipe = pipes[VAE]
    batch = _batch(pipe, VAE, "a")
    first, second = pipe.generate(batch, seed=1), pipe.generate(batch, seed=2)
    assert torch.equal(first, second)  # the seed does not matter with a style photo
    assert (first - _expected(VAE, "expected_mean_a")).abs().max() <= TOLERANCE


def test_vae_with_the_originals_sampled_eps(pipes) -> None:
    """The original samples z = mu + eps * std at test time: fed the eps it drew, i2i's encoder and
    generator give its output, and its encoder's mu / logvar."""
    pipe = pipes[VAE]
    cond = pipe.conditioner(_batch(pipe, VAE, "a"))
    gen = pipe.generator
    with torch.no_grad():
        mu, logvar = gen.encode(cond.refs)
        out = gen.net(cond.maps, gen.sample(mu, logvar, _expected(VAE, "eps_a")))
    assert (torch.cat([mu, logvar]) - _expected(VAE, "mu_logvar_a")).abs().max() <= TOLERANCE
    assert (out - _expected(VAE, "expected_a")).abs().max() <= TOLERANCE


def test_vae_without_style_draws_z_from_the_seed(pipes) -> None:
    pipe = pipes[VAE]
    batch = _batch(pipe, VAE, "a", style=False)
    assert pipe.generator.noise_dim == 16
    out = pipe.generate(batch, seed=5)
    assert torch.equal(out, pipe.generate(batch, seed=5))
    assert (out - pipe.generate(batch, seed=6)).abs().max() > 0.01
    with torch.no_grad():
        direct = pipe.generator.net(pipe.conditioner(batch).maps, draw_noise(1, 16, 5))
    assert (out - direct).abs().max() <= 1e-6


def test_imported_architecture_and_conditioner(pipes) -> None:
    config = pipes[MORE].config.model
    assert dict(config.generator) | {} == {
        "name": "spade_nvlabs", "label_channels": 8, "ngf": 3, "num_upsampling_layers": "more", "crop_size": 128,
        "aspect_ratio": 2.0, "use_vae": False, "z_dim": 256, "norm": "batch", "kernel_size": 3, "hidden": 8,
        "spectral": True, "encoder": False,
    }  # fmt: skip
    cond = config.conditioner
    assert (cond.num_classes, cond.dontcare_channel, cond.edge_channel, list(cond.size)) == (
        6,
        True,
        True,
        [64, 128],
    )
    vae = pipes[VAE].config.model.generator
    assert (vae.use_vae, vae.z_dim, vae.kernel_size, vae.norm, vae.spectral, vae.encoder) == (
        True, 16, 5, "instance", False, True,
    )  # fmt: skip
    assert pipes[VAE].config.model.conditioner.edge_channel is False
    assert pipes[MOST].config.model.generator.num_upsampling_layers == "most"
    maps = pipes[MORE].conditioner(_batch(pipes[MORE], MORE, "a")).maps
    assert maps.shape[1] == 8 and maps[0, 6, :2, :2].eq(1).all()  # the don't-care corner


# ---- through the command line and the model file ------------------------------------------------
def _run(argv: list[str]) -> int:
    from i2i.cli.main import run_main

    with pytest.raises(SystemExit) as info:
        run_main(argv)
    return info.value.code


def test_i2i_run_with_labels_instances_and_style(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    argv = [
        "--plugin",
        "seg2img",
        "--checkpoint",
        str(VAE / "latest_net_G.pth"),
        "--labels",
        str(VAE / "label_a.png"),
    ]
    assert _run([*argv, "--style", str(VAE / "img_a.png"), "--out", str(out)]) == 0
    png = np.asarray(Image.open(out), dtype=np.float32) / 127.5 - 1
    expected = _expected(VAE, "expected_mean_a")[0].permute(1, 2, 0).numpy()
    assert np.abs(png - expected).max() <= 1 / 127.5 + 1e-6  # 8-bit rounding only
    out = tmp_path / "more.png"
    argv = [
        "--plugin",
        "seg2img",
        "--checkpoint",
        str(MORE / "latest_net_G.pth"),
        "--labels",
        str(MORE / "label_b.png"),
    ]
    assert _run([*argv, "--instances", str(MORE / "inst_b.png"), "--out", str(out)]) == 0
    assert Image.open(out).size == (128, 64)


def test_saved_as_an_i2i_model_file_it_gives_the_same_output(pipes, tmp_path: Path) -> None:
    from i2i.engine import checkpoint as ckpt

    pipe = pipes[VAE]
    path = tmp_path / "spade.safetensors"
    ckpt.save_model(path, pipe.config.to_json(), {"generator": pipe.generator, "conditioner": pipe.conditioner},
                    {"plugin": "seg2img"})  # fmt: skip
    again = load_pipeline(path, device="cpu")
    assert again.config.model.generator.name == "spade_nvlabs"
    assert (
        again.generate(_batch(again, VAE, "a")) - _expected(VAE, "expected_mean_a")
    ).abs().max() <= TOLERANCE


# ---- what the weights do not say, and bad files -------------------------------------------------
def _copy(folder: Path, tmp: Path, files: tuple[str, ...]) -> Path:
    for name in files:
        shutil.copy(folder / name, tmp / name)
    return tmp / "latest_net_G.pth"


def test_without_opt_txt_one_line_says_what_was_assumed(tmp_path: Path, capsys) -> None:
    from i2i_seg2img.spade_import import import_spade

    override, _ = import_spade(_copy(MOST, tmp_path, ("latest_net_G.pth",)))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "opt.txt") in err[0]
    assert "num_upsampling_layers" in err[0] and "assumed most, 256, 1, label_nc 5 + instance" in err[0]
    assert override["model"]["generator"]["num_upsampling_layers"] == "most"  # up_4 is in the weights
    assert override["model"]["conditioner"]["num_classes"] == 5


def test_an_opt_txt_of_another_model_is_an_error_naming_it(tmp_path: Path) -> None:
    path = _copy(MORE, tmp_path, ("latest_net_G.pth",))
    text = (MORE / "opt.txt").read_text()
    (tmp_path / "opt.txt").write_text(text.replace("label_nc: 6 ", "label_nc: 7 "))
    with pytest.raises(
        InputError, match=r"opt\.txt: label_nc 7, contain_dontcare_label True, no_instance False give 9"
    ):
        load_pipeline(path, plugin="seg2img", device="cpu")
    (tmp_path / "opt.txt").write_text(
        text.replace("num_upsampling_layers: more", "num_upsampling_layers: most")
    )
    with pytest.raises(InputError, match="num_upsampling_layers is most but latest_net_G.pth has no up_4"):
        load_pipeline(path, plugin="seg2img", device="cpu")


def test_vae_without_its_encoder_file_imports_and_refuses_style(tmp_path: Path, capsys) -> None:
    path = _copy(VAE, tmp_path, ("latest_net_G.pth", "opt.txt"))
    pipe = load_pipeline(path, plugin="seg2img", device="cpu")
    assert "latest_net_E.pth: not found" in capsys.readouterr().err
    assert pipe.generator.encoder is None and pipe.generator.noise_dim == 16
    with pytest.raises(InputError, match="--style: this model has no style encoder"):
        pipe.prepare(_inputs(VAE, "a"))


def test_files_that_are_not_spade_generators(tmp_path: Path) -> None:
    bad = tmp_path / "latest_net_G.pth"
    torch.save({"model.1.weight": torch.zeros(4, 3, 7, 7)}, bad)
    with pytest.raises(
        InputError, match=r"not a SPADE generator \(NVlabs/SPADE latest_net_G.pth\): no 'fc.weight'"
    ):
        load_pipeline(bad, plugin="seg2img", device="cpu")
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        load_pipeline(bad, plugin="seg2img", device="cpu")
    encoder = _copy(VAE, tmp_path, ("latest_net_G.pth", "opt.txt"))
    torch.save({"layer1.0.weight": torch.zeros(2, 3, 3, 3)}, tmp_path / "latest_net_E.pth")
    with pytest.raises(InputError, match="latest_net_E.pth is not its SPADE style encoder: no 'layer1"):
        load_pipeline(encoder, plugin="seg2img", device="cpu")


def test_a_class_id_out_of_the_models_range_names_the_file(tmp_path: Path) -> None:
    labels = np.asarray(Image.open(MORE / "label_a.png")).copy()
    labels[10, 20] = 9  # label_nc is 6 (255 is its don't care)
    Image.fromarray(labels).save(tmp_path / "bad.png")
    argv = [
        "--plugin",
        "seg2img",
        "--checkpoint",
        str(MORE / "latest_net_G.pth"),
        "--labels",
        str(tmp_path / "bad.png"),
    ]
    from i2i.pipeline import run_files

    pipe = load_pipeline(MORE / "latest_net_G.pth", plugin="seg2img", device="cpu")
    with pytest.raises(InputError, match=r"bad\.png: class id 9 at \(x=20, y=10\) is out of range 0\.\.5"):
        run_files(pipe, {"labels": str(tmp_path / "bad.png")}, tmp_path / "out.png")
    assert _run([*argv, "--out", str(tmp_path / "out.png")]) == 2
    assert not (tmp_path / "out.png").exists()


def test_the_fast_inference_path_is_the_reference_path_and_follows_weight_changes() -> None:
    """Inference runs on frozen weight copies (spectral norm applied once, gamma/beta fused,
    channels_last): the same outputs as the module path autograd uses, rebuilt after a change."""
    pipe = load_pipeline(MORE / "latest_net_G.pth", plugin="seg2img", device="cpu")
    batch = _batch(pipe, MORE, "a")
    cond = pipe.conditioner(batch)
    before = pipe.generate(batch)
    with torch.no_grad():
        pipe.generator.net.up_3.norm_1.mlp_beta.bias.add_(0.5)  # in place, as an optimiser or EMA
    after = pipe.generate(batch)
    with torch.enable_grad():
        reference = pipe.generator(cond).detach()  # eval mode with autograd: the module path
    assert (after - reference).abs().max() <= 1e-5
    assert (after - before).abs().max() > 0.01
