"""pix2pixHD in seg2img: original ``latest_net_G.pth`` files import and reproduce the original code.

tests/fixtures/pix2pixhd holds generators made and run by NVIDIA/pix2pixHD itself (see its
README.md and make_fixtures.py): global and local (one and two enhancers), instance and batch
norm, with and without the instance-edge channel, each with the opt.txt training wrote beside it,
the label (and instance) maps it was run on and the tensor its own inference path produced.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.config import load_config
from i2i.data.images import read_labels
from i2i.engine.build import build_discriminator, build_generator
from i2i.errors import InputError
from i2i.pipeline import Pipeline, load_pipeline
from i2i.plugins import get_modality
from i2i_seg2img.pix2pixhd import BatchNorm
from i2i_seg2img.pix2pixhd_import import import_pix2pixhd, infer_architecture, key_map

FIXTURES = Path(__file__).parent / "fixtures" / "pix2pixhd"
BIN = Path(sys.executable).parent
TOLERANCE = 1e-4

EXPECTED_CONFIGS = {
    "global-instance": {
        "netG": "global",
        "ngf": 8,
        "n_downsample_global": 3,
        "n_blocks_global": 1,
        "norm": "instance",
        "instance": True,
    },
    "global-batch-noinst": {
        "netG": "global",
        "ngf": 8,
        "n_downsample_global": 2,
        "n_blocks_global": 2,
        "norm": "batch",
        "instance": False,
        "batch_norm_stats": "input",
    },
    "local-batch": {
        "netG": "local",
        "ngf": 8,
        "n_downsample_global": 2,
        "n_blocks_global": 1,
        "n_local_enhancers": 1,
        "n_blocks_local": 1,
        "norm": "batch",
        "instance": True,
        "batch_norm_stats": "input",
    },
    "local2-instance": {
        "netG": "local",
        "ngf": 4,
        "n_downsample_global": 1,
        "n_blocks_global": 2,
        "n_local_enhancers": 2,
        "n_blocks_local": 1,
        "norm": "instance",
        "instance": True,
    },
}

# Measured on the original's networks at full size (NVIDIA/pix2pixHD 14b3b3c, models/networks.py):
# GlobalGenerator(36, 3, 64, 4, 9, instance norm) and
# MultiscaleDiscriminator(39, 64, 3, instance norm, num_D=3, getIntermFeat=True), parameters summed.
ORIGINAL_GLOBAL_G_PARAMS = 182_546_755
ORIGINAL_D_PARAMS = 8_404_803


def _inputs(folder: Path, instances: bool = True) -> dict[str, torch.Tensor]:
    inputs = {"labels": read_labels(folder / "labels.png")}
    if instances and (folder / "instances.png").is_file():
        inputs["instances"] = read_labels(folder / "instances.png")
    return inputs


def _generate(pipe: Pipeline, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    batch = {k: v[None] for k, v in pipe.prepare(inputs).items()}
    return pipe.generate(batch).numpy()


@pytest.mark.parametrize("name", sorted(EXPECTED_CONFIGS))
def test_import_reproduces_the_original(name: str) -> None:
    folder = FIXTURES / name
    pipe = load_pipeline(folder / "latest_net_G.pth", plugin="seg2img", device="cpu")
    config = pipe.config.to_dict()["model"]
    assert config["generator"] == {"name": "pix2pixhd", "num_classes": 6, **EXPECTED_CONFIGS[name]}
    assert config["conditioner"]["style_dim"] == 0 and pipe.generator.noise_dim == 0
    expected = np.load(folder / "expected.npy")
    out = _generate(pipe, _inputs(folder))
    assert out.shape == expected.shape
    error = float(np.abs(out - expected).max())
    assert error <= TOLERANCE, f"{name}: max abs diff {error:.2e} to the original"
    # The config alone rebuilds the same network through the registered factory.
    rebuilt = build_generator(pipe.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in pipe.generator.state_dict().items()
    }


@pytest.mark.parametrize("name", ["global-batch-noinst", "local-batch"])
def test_batch_norm_running_statistics_match_the_original_in_eval_mode(name: str) -> None:
    """The original's test.py normalises with the test image's statistics (it never calls eval());
    `batch_norm_stats: running` is the same network in eval mode, which uses the stored ones."""
    folder = FIXTURES / name
    pipe = load_pipeline(folder / "latest_net_G.pth", plugin="seg2img", device="cpu")
    norms = [m for m in pipe.generator.modules() if isinstance(m, BatchNorm)]
    assert norms
    for m in norms:
        m.stats = "running"
    expected = np.load(folder / "expected_running_stats.npy")
    assert float(np.abs(_generate(pipe, _inputs(folder)) - expected).max()) <= TOLERANCE
    assert float(np.abs(np.load(folder / "expected.npy") - expected).max()) > 0.1  # the two differ


def test_instance_map_gives_the_edges() -> None:
    """Without --instances the edges come from label boundaries, which miss the borders between
    touching objects of one class: the output then differs from the original's."""
    folder = FIXTURES / "global-instance"
    pipe = load_pipeline(folder / "latest_net_G.pth", plugin="seg2img", device="cpu")
    expected = np.load(folder / "expected.npy")
    assert float(np.abs(_generate(pipe, _inputs(folder, instances=False)) - expected).max()) > 0.01


def test_cli_run_writes_the_original_image(tmp_path: Path) -> None:
    folder = FIXTURES / "local-batch"
    out = tmp_path / "out.png"
    cmd = [str(BIN / "i2i-run"), "--plugin", "seg2img", "--checkpoint", str(folder / "latest_net_G.pth")]
    cmd += ["--labels", str(folder / "labels.png"), "--instances", str(folder / "instances.png")]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    expected = (np.load(folder / "expected.npy")[0].transpose(1, 2, 0).clip(-1, 1) + 1) * 127.5
    written = np.asarray(Image.open(out).convert("RGB"), np.float32)
    assert np.abs(written - expected).max() <= 0.5 + 1e-3  # rounded to the nearest level


def test_without_opt_txt_the_assumption_is_said_in_one_line(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "global-instance" / "latest_net_G.pth", tmp_path / "latest_net_G.pth")
    lines: list[str] = []
    override, _ = import_pix2pixhd(tmp_path / "latest_net_G.pth", notice=lines.append)
    assert len(lines) == 1 and "no opt.txt" in lines[0] and "label_nc 6" in lines[0]
    assert override["model"]["generator"]["num_classes"] == 6 and override["data"] == {"num_classes": 6}
    assert override["model"]["generator"]["instance"] is True
    # pix2pixHD's default split (label classes + the edge channel) is this file's: same outputs.
    pipe = load_pipeline(tmp_path / "latest_net_G.pth", plugin="seg2img", device="cpu")
    out = _generate(pipe, _inputs(FIXTURES / "global-instance"))
    assert float(np.abs(out - np.load(FIXTURES / "global-instance" / "expected.npy")).max()) <= TOLERANCE


def _with_options(tmp_path: Path, name: str, **changes: str) -> Path:
    shutil.copy(FIXTURES / name / "latest_net_G.pth", tmp_path / "latest_net_G.pth")
    lines = (FIXTURES / name / "opt.txt").read_text().splitlines()
    for key, value in changes.items():
        lines = [f"{key}: {value}" if line.startswith(f"{key}: ") else line for line in lines]
    (tmp_path / "opt.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "latest_net_G.pth"


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"instance_feat": "True"}, r"encoded instance features .*feat_num 3.*not supported"),
        ({"label_nc": "5"}, r"label_nc 5 \+ the instance edge = 6 input channels, the weights take 7"),
        ({"no_instance": "True"}, r"label_nc 6 \(--no_instance\) = 6 input channels, the weights take 7"),
        ({"label_nc": "0"}, r"label_nc 0 \(RGB input images"),
        ({"n_blocks_global": "9"}, r"n_blocks_global 9, the weights 1"),
        ({"model": "ui"}, r"model 'ui'"),
    ],
)
def test_opt_txt_that_does_not_fit_is_one_line(tmp_path: Path, changes: dict, message: str) -> None:
    path = _with_options(tmp_path, "global-instance", **changes)
    with pytest.raises(InputError, match=message) as info:
        import_pix2pixhd(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))


def test_files_that_are_not_pix2pixhd_generators(tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        import_pix2pixhd(text)
    other = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(InputError, match=r"not a recognised pix2pixHD generator: no 'model.1.weight'"):
        import_pix2pixhd(other)
    # pix2pix's batch-norm ResNet has the same key layout but no convolution biases.
    state = torch.load(FIXTURES / "global-batch-noinst" / "latest_net_G.pth", weights_only=True)
    no_bias = tmp_path / "pix2pix.pth"
    torch.save(
        {
            k: v
            for k, v in state.items()
            if not (k.endswith(".bias") and v.dim() == 1 and k != "model.2.bias")
        },
        no_bias,
    )
    with pytest.raises(InputError, match="no biases"):
        import_pix2pixhd(no_bias)
    # A layer missing from the file is named.
    cut = tmp_path / "cut.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("model.10.")}, cut)
    with pytest.raises(InputError, match="not a recognised pix2pixHD generator"):
        import_pix2pixhd(cut)


def test_cli_bad_checkpoint_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "latest_net_G.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, bad)
    labels = tmp_path / "labels.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(labels)
    cmd = [str(BIN / "i2i-run"), "--plugin", "seg2img", "--checkpoint", str(bad), "--labels", str(labels)]
    proc = subprocess.run(
        [*cmd, "--out", str(tmp_path / "o.png")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pix2pixHD generator" in lines[0] and str(bad) in lines[0], proc.stderr
    assert not (tmp_path / "o.png").exists()


def test_preset_is_full_size_pix2pixhd() -> None:
    config = load_config(get_modality("seg2img"), "pix2pixhd")
    assert config.loss.gan == "lsgan" and config.optim.betas_g == [0.5, 0.999]
    with torch.device("meta"):
        generator = build_generator(config)
        discriminator = build_discriminator(config)
    assert sum(p.numel() for p in generator.parameters()) == ORIGINAL_GLOBAL_G_PARAMS
    assert sum(p.numel() for p in discriminator.parameters()) == ORIGINAL_D_PARAMS
    assert generator.size_multiple == 16 and len(discriminator.scales) == 3


def test_old_pytorch_and_dataparallel_files_load(tmp_path: Path) -> None:
    """Files from PyTorch < 0.4 kept InstanceNorm statistics and lacked BatchNorm's
    num_batches_tracked; nn.DataParallel prefixes keys with 'module.'. All three still import."""
    folder = FIXTURES / "global-instance"
    state = torch.load(folder / "latest_net_G.pth", weights_only=True)
    modules = dict(import_pix2pixhd(folder / "latest_net_G.pth")[1].named_modules())
    legacy = dict(state)
    for original, ours in key_map(infer_architecture(state)).items():
        if "norm" in ours:  # the norm layers, which have no keys of their own today
            channels = modules[ours].channels
            legacy[f"{original}.running_mean"] = torch.zeros(channels)
            legacy[f"{original}.running_var"] = torch.ones(channels)
    assert len(legacy) > len(state)
    (tmp_path / "legacy").mkdir()
    torch.save({f"module.{k}": v for k, v in legacy.items()}, tmp_path / "legacy" / "latest_net_G.pth")
    shutil.copy(folder / "opt.txt", tmp_path / "legacy" / "opt.txt")
    pipe = load_pipeline(tmp_path / "legacy" / "latest_net_G.pth", plugin="seg2img", device="cpu")
    assert (
        float(np.abs(_generate(pipe, _inputs(folder)) - np.load(folder / "expected.npy")).max()) <= TOLERANCE
    )

    batch_folder = FIXTURES / "local-batch"
    state = torch.load(batch_folder / "latest_net_G.pth", weights_only=True)
    (tmp_path / "old_bn").mkdir()
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old_bn" / "latest_net_G.pth")
    shutil.copy(batch_folder / "opt.txt", tmp_path / "old_bn" / "opt.txt")
    pipe = load_pipeline(tmp_path / "old_bn" / "latest_net_G.pth", plugin="seg2img", device="cpu")
    expected = np.load(batch_folder / "expected.npy")
    assert float(np.abs(_generate(pipe, _inputs(batch_folder)) - expected).max()) <= TOLERANCE


def test_imported_model_saves_as_an_i2i_model_file(tmp_path: Path) -> None:
    from i2i.engine import checkpoint

    folder = FIXTURES / "local2-instance"
    pipe = load_pipeline(folder / "latest_net_G.pth", plugin="seg2img", device="cpu")
    modules = {"generator": pipe.generator, "conditioner": pipe.conditioner}
    checkpoint.save_model(
        tmp_path / "p2phd.safetensors", pipe.config.to_json(), modules, {"plugin": "seg2img"}
    )
    reloaded = load_pipeline(tmp_path / "p2phd.safetensors", device="cpu")  # no importer, no opt.txt
    expected = np.load(folder / "expected.npy")
    assert float(np.abs(_generate(reloaded, _inputs(folder)) - expected).max()) <= TOLERANCE


def _in_original_layout(net: torch.nn.Module, arch: dict) -> dict[str, torch.Tensor]:
    """An i2i pix2pixHD generator's weights under the original's key names."""
    original = {ours: theirs for theirs, ours in key_map(arch).items()}
    out = {}
    for key, value in net.state_dict().items():
        module, _, name = key.rpartition(".")
        out[f"{original[module]}.{name}"] = value
    return out


def test_cityscapes_model_gets_the_cityscapes_class_colours(tmp_path: Path) -> None:
    from i2i_seg2img.pix2pixhd import pix2pixhd

    arch = {"netG": "global", "ngf": 2, "n_downsample_global": 1, "n_blocks_global": 0, "norm": "instance"}
    torch.manual_seed(0)
    state = _in_original_layout(pix2pixhd(35, **arch, init="default"), arch)
    torch.save(state, tmp_path / "latest_net_G.pth")
    override, _ = import_pix2pixhd(tmp_path / "latest_net_G.pth", notice=lambda line: None)
    assert override["model"]["conditioner"]["classes"] == "cityscapes"
    pipe = load_pipeline(tmp_path / "latest_net_G.pth", plugin="seg2img", device="cpu")
    ids = torch.full((1, 8, 8), 7)  # road
    ids[0, 4:] = 26  # car
    colours = torch.tensor([[128, 64, 128], [0, 0, 142]])[(ids[0] == 26).long()].permute(2, 0, 1)
    assert np.array_equal(_generate(pipe, {"labels": colours}), _generate(pipe, {"labels": ids}))
    # Another data set with 35 classes keeps index maps only.
    (tmp_path / "opt.txt").write_text("label_nc: 35\ndataroot: ./datasets/mine/\n")
    override, _ = import_pix2pixhd(tmp_path / "latest_net_G.pth")
    assert "classes" not in override["model"]["conditioner"]
