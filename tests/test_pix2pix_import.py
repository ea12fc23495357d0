"""Importing original pix2pix/CycleGAN generators reproduces the original implementation's outputs.

The reference checkpoints and outputs live in tests/fixtures/pix2pix-reference (a copy of
shared/fixtures/pix2pix-reference, see its README). I2I_FIXTURES points elsewhere if set. A
missing fixture fails the test: silently skipping would hide a broken importer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.errors import InputError
from i2i.interfaces import Condition
from i2i.nets import wrappers
from i2i_img2img.pix2pix_import import load_pix2pix_generator

REFERENCE = "pix2pix-reference"


def _fixtures_root() -> Path:
    if os.environ.get("I2I_FIXTURES"):
        return Path(os.environ["I2I_FIXTURES"])
    in_repo = Path(__file__).parent / "fixtures"
    if (in_repo / REFERENCE).is_dir():
        return in_repo
    return Path(__file__).parents[2] / "shared" / "fixtures"


@pytest.fixture(scope="module")
def reference() -> Path:
    root = _fixtures_root() / REFERENCE
    assert root.is_dir(), f"pix2pix reference fixtures not found at {root} (set I2I_FIXTURES)"
    return root


def _image(path: Path) -> torch.Tensor:
    pixels = np.array(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(pixels).permute(2, 0, 1)[None] / 127.5 - 1


@pytest.mark.parametrize(
    "folder,expected_config",
    [
        (
            "unet_256-ngf16-batch",
            {"name": "unet", "num_downs": 8, "ngf": 16, "norm": "batch", "dropout": True},
        ),
        (
            "resnet_9blocks-ngf16-instance",
            {"name": "resnet", "n_blocks": 9, "ngf": 16, "norm": "instance", "dropout": True},
        ),
    ],
)
def test_import_matches_reference_outputs(reference: Path, folder: str, expected_config: dict) -> None:
    config, generator = load_pix2pix_generator(reference / folder / "latest_net_G.pth")
    assert config == {**expected_config, "in_channels": 3, "out_channels": 3}
    assert not generator.training
    # The config rebuilds the same architecture through the registered factory.
    factory = {"unet": wrappers.unet_generator, "resnet": wrappers.resnet_generator}[config["name"]]
    rebuilt = factory(**{k: v for k, v in config.items() if k != "name"})
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in generator.state_dict().items()
    }
    for name in ("astronaut", "coffee"):
        expected = np.load(reference / folder / f"{name}_expected.npy")
        with torch.no_grad():
            out = generator(Condition(maps=_image(reference / "inputs" / f"{name}.png")))
        error = np.abs(out[0].permute(1, 2, 0).numpy() - expected).max()
        assert error < 1e-4, f"{folder}/{name}: max abs error {error:.2e}"


def test_text_file_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    with pytest.raises(InputError, match="not a PyTorch checkpoint") as info:
        load_pix2pix_generator(path)
    assert info.value.path == str(path) and "\n" not in str(info.value)


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_pix2pix_generator(tmp_path / "absent.pth")


def test_unrelated_state_dict_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "random.pth"
    torch.save({"encoder.weight": torch.randn(4, 3), "encoder.bias": torch.randn(4)}, path)
    with pytest.raises(InputError, match="not a recognised pix2pix"):
        load_pix2pix_generator(path)


def test_non_dict_checkpoint_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.randn(3), path)
    with pytest.raises(InputError, match="not a state dict"):
        load_pix2pix_generator(path)


def test_damaged_generator_is_input_error(reference: Path, tmp_path: Path) -> None:
    state = torch.load(reference / "resnet_9blocks-ngf16-instance" / "latest_net_G.pth", weights_only=True)
    state["model.4.weight"] = state["model.4.weight"][:, :8]  # wrong shape
    path = tmp_path / "damaged.pth"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"model\.4\.weight"):
        load_pix2pix_generator(path)


def test_wrapped_and_dataparallel_checkpoints_load(reference: Path, tmp_path: Path) -> None:
    state = torch.load(reference / "resnet_9blocks-ngf16-instance" / "latest_net_G.pth", weights_only=True)
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    config, _ = load_pix2pix_generator(path)
    assert config["name"] == "resnet" and config["n_blocks"] == 9


def test_roundtrip_of_other_architectures(tmp_path: Path) -> None:
    """unet_128 / resnet_6blocks without dropout / batch norm: inferred from keys alone."""
    from i2i.nets.unet import UNet

    unet = UNet(1, 2, num_downs=7, ngf=4, norm="none")
    # Original key layout for a 7-level U-Net with no norm (Identity layers keep their indices).
    original = {
        "model.model.0.weight": unet.encoder[0].conv.weight,
        "model.model.3.weight": unet.decoder[0].conv.weight,
        "model.model.3.bias": unet.decoder[0].conv.bias,
    }
    prefix = "model.model.1.model."
    for level in range(1, 7):
        original[f"{prefix}1.weight"] = unet.encoder[level].conv.weight
        original[f"{prefix}{3 if level == 6 else 5}.weight"] = unet.decoder[level].conv.weight
        prefix += "3.model."
    path = tmp_path / "unet128.pth"
    torch.save({k: v.detach().clone() for k, v in original.items()}, path)
    config, generator = load_pix2pix_generator(path)
    assert config == {
        "name": "unet",
        "in_channels": 1,
        "out_channels": 2,
        "num_downs": 7,
        "ngf": 4,
        "norm": "none",
        "dropout": True,
    }
    x = torch.randn(1, 1, 128, 128)
    with torch.no_grad():
        assert torch.equal(generator(Condition(maps=x)), unet.eval()(x))


def test_importer_hook_returns_config_override(reference: Path) -> None:
    from i2i_img2img.pix2pix_import import import_pix2pix

    override, generator = import_pix2pix(reference / "unet_256-ngf16-batch" / "latest_net_G.pth")
    assert override == {
        "model": {
            "generator": {
                "name": "unet",
                "in_channels": 3,
                "out_channels": 3,
                "num_downs": 8,
                "ngf": 16,
                "norm": "batch",
                "dropout": True,
            }
        }
    }
    assert not generator.training
