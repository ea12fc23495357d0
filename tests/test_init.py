"""`i2i-train --init SRC`: a new run starts from existing weights (an i2i model or a foreign
checkpoint through the plugin's importers), with the architecture and data conventions the
weights were trained with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

BIN = Path(sys.executable).parent
PIX2PIX = Path(__file__).parent / "fixtures" / "pix2pix-reference" / "resnet_9blocks-ngf16-instance"
QUIET = ["--quiet", "--set", "train.tensorboard=false", "--set", "train.precision=fp32"]


def _train(*args: str) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "i2i-train"), "--plugin", "img2img", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from i2i_img2img.demo import write_demo

    out = tmp_path_factory.mktemp("init-data")
    write_demo(out, n=4, seed=0, size=64)
    return out


def test_foreign_checkpoint_starts_the_run(data: Path, tmp_path: Path) -> None:
    """One step at learning rate 0 leaves the weights where they started: the run's model holds
    exactly the original pix2pix generator's weights, under the architecture read from them."""
    run = tmp_path / "run"
    sets = ["--set", "optim.lr_g=0.0", "--set", "train.steps=1", "--set", "data.load_size=64",
            "--set", "data.crop_size=64"]  # fmt: skip
    proc = _train(
        "--init", str(PIX2PIX / "latest_net_G.pth"), "--data", str(data), "--out", str(run), *QUIET, *sets
    )
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["train"]["init"] == str(PIX2PIX / "latest_net_G.pth")
    gen = config["model"]["generator"]
    assert (gen["name"], gen["n_blocks"], gen["ngf"], gen["norm"]) == ("resnet", 9, 16, "instance")
    from i2i.pipeline import load_pipeline

    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    outputs = []
    for source, plugin in ((run / "model.safetensors", None), (PIX2PIX / "latest_net_G.pth", "img2img")):
        pipe = load_pipeline(source, plugin=plugin, device="cpu")
        outputs.append(pipe.generate({"input": x}, seed=0))
    assert torch.equal(outputs[0], outputs[1])


def test_i2i_model_brings_its_data_conventions(data: Path, tmp_path: Path) -> None:
    """The shipped x4 model fine-tunes on x4 pairs without the user repeating its settings, and
    a learning step moves the weights away from the shipped ones."""
    run = tmp_path / "run"
    sets = ["--set", "train.steps=1", "--set", "data.load_size=32", "--set", "data.crop_size=32"]
    proc = _train("--init", "img2img", "--data", str(data), "--out", str(run), *QUIET, *sets)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["data"]["task"], config["data"]["scale"]) == ("sr", 4)
    assert config["data"]["crop_size"] == 32  # the user's --set still wins
    from i2i.modality import resolve_resource
    from i2i.plugins import get_manager

    shipped_file = resolve_resource(get_manager().get_modality("img2img").default_checkpoint)
    shipped = load_file(str(shipped_file))
    after = load_file(str(run / "model.safetensors"))
    common = [k for k in shipped if k in after and shipped[k].is_floating_point()]
    assert common
    assert any(not torch.equal(shipped[k].float(), after[k].float()) for k in common)


def test_init_errors_are_one_line(data: Path, tmp_path: Path) -> None:
    both = _train("--init", "img2img", "--resume", "--data", str(data), "--out", str(tmp_path / "a"), *QUIET)
    assert both.returncode == 2 and "--init starts a new run" in both.stderr
    assert "Traceback" not in both.stderr
    # an explicit --set wins over the imported architecture, and then the weights cannot fit
    misfit = _train("--init", str(PIX2PIX / "latest_net_G.pth"), "--set", "model.generator.ngf=8",
                    "--data", str(data), "--out", str(tmp_path / "b"), *QUIET)  # fmt: skip
    lines = [line for line in misfit.stderr.splitlines() if line.strip()]
    assert misfit.returncode == 2, misfit.stderr
    assert len(lines) == 1 and "train.init" in lines[0] and "generator" in lines[0], misfit.stderr
    missing = _train(
        "--init", str(tmp_path / "nope.pth"), "--data", str(data), "--out", str(tmp_path / "c"), *QUIET
    )
    assert missing.returncode == 2 and "nope.pth" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "b" / "checkpoints").exists()
