"""first-order-model training in face2img: the `--config fomm` preset (vox-256 at full size),
the `fomm` recipe and its loss terms, and fine-tuning an original checkpoint with `--init`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from i2i.config import load_config
from i2i.engine.build import build_discriminator, build_generator
from i2i.plugins import get_manager

FIXTURES = Path(__file__).parent / "fixtures" / "fomm"
CHECKPOINT = FIXTURES / "vox-cpk.pth.tar"
BIN = Path(sys.executable).parent

# Measured on the original's own networks built from its config/vox-256.yaml (commit c0274845,
# tests/fixtures/fomm/make_fixtures.py prints them): OcclusionAwareGenerator, KPDetector,
# MultiScaleDiscriminator.
ORIGINAL_GENERATOR = 45_575_391
ORIGINAL_KP_DETECTOR = 14_215_368
ORIGINAL_DISCRIMINATOR = 2_758_849
# quick runs on the fixture's size; the VGG19 weights of fomm_perceptual are not on this machine
SMALL = ["train.tensorboard=false", "train.precision=fp32", "train.batch_size=2", "data.size=64", "train.model_fp16=false",
         "loss.generator.fomm_perceptual=0", "loss.generator.l1=10"]  # fmt: skip


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_preset_networks_have_the_originals_parameter_counts():
    config = load_config(get_manager().get_modality("face2img"), "fomm")
    assert config.recipe == "fomm"
    with torch.device("meta"):
        generator, discriminator = build_generator(config), build_discriminator(config)
    assert _count(generator.kp_detector) == ORIGINAL_KP_DETECTOR
    assert _count(generator) - _count(generator.kp_detector) == ORIGINAL_GENERATOR
    assert _count(discriminator) == ORIGINAL_DISCRIMINATOR


def test_the_random_warps_jacobian_is_its_derivative():
    """The equivariance terms use dT analytically; the original takes it with autograd."""
    from i2i_face2img.fomm_train import RandomWarp

    torch.manual_seed(0)
    coords = torch.rand(3, 7, 2) * 2 - 1
    warp = RandomWarp(3, 0.05, 0.05, 5, like=coords)
    x = coords.clone().requires_grad_(True)
    moved = warp(x)
    rows = [torch.autograd.grad(moved[..., i].sum(), x, retain_graph=True)[0] for i in range(2)]
    assert torch.allclose(warp.jacobian(coords), torch.stack(rows, dim=-2), atol=1e-5)
    image = torch.rand(3, 3, 16, 16)
    assert warp.warp_image(image).shape == image.shape


def test_perceptual_pyramid_term(monkeypatch):
    """fomm_perceptual is 0 for identical images and sums layer-weighted feature distances over
    the pyramid (a small stand-in for VGG19 here: torchvision's weights are not on this machine)."""
    import i2i.nets.vgg as vgg
    from i2i_face2img.fomm_train import Perceptual

    class StandIn(torch.nn.Module):  # what Perceptual reads of core's VGGLoss: slices, mean, std
        def __init__(self):
            super().__init__()
            self.slices = torch.nn.ModuleList(
                torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.ReLU()) for _ in range(5)
            )
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    torch.manual_seed(0)
    monkeypatch.setattr(vgg, "load_vgg_loss", StandIn)
    one = Perceptual(scales=[1])
    two = Perceptual(scales=[1, 0.5], layer_weights=[2, 2, 2, 2, 2])
    two.slices = one.slices
    real, fake = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1

    class View:
        def __init__(self, fake, real):
            self.fake, self.real = fake, real

    assert one(View(real, real)) == 0
    at_one = one(View(fake, real))
    assert at_one > 0 and two(View(fake, real)) > 2 * at_one


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    from i2i_face2img.demo import write_faces

    out = tmp_path_factory.mktemp("faces")
    write_faces(out, n=8, seed=0)
    return out


def test_fine_tuning_the_original_checkpoint_with_the_preset(faces, tmp_path):
    """i2i-train --init vox-cpk.pth.tar --config fomm: the run has the checkpoint's architecture,
    starts from its weights (at learning rate 0 the trained parameters stay exactly the
    original's), trains with the fomm recipe's equivariance terms, and its model animates."""
    run = tmp_path / "run"
    sets = [*SMALL, "train.steps=2", "optim.lr_g=0.0", "train.log_every=1"]
    cmd = [str(BIN / "i2i-train"), "--plugin", "face2img", "--init", str(CHECKPOINT), "--config", "fomm",
           "--data", str(faces), "--out", str(run), "--quiet", *[a for s in sets for a in ("--set", s)]]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [m for m in logged if "g_fomm_equivariance_value" in m][-1]
    assert all(
        torch.isfinite(torch.tensor(last[k]))
        for k in ("g_l1", "g_fomm_equivariance_value", "g_fomm_equivariance_jacobian")
    )
    original = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    saved = load_file(run / "model.safetensors")
    for key, value in original["kp_detector"].items():
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):  # BN statistics do move
            assert torch.equal(saved[f"generator.kp_detector.{key}"], value), key
    for key in ("first.conv.weight", "dense_motion_network.mask.weight", "final.bias"):
        assert torch.equal(saved[f"generator.{key}"], original["generator"][key]), key

    from i2i.pipeline import _collate, load_pipeline

    pipe = load_pipeline(run, device="cpu")
    assert pipe.config.model.generator.num_kp == 5 and pipe.config.recipe == "fomm"
    portrait = torch.rand(3, 64, 64) * 2 - 1
    state = pipe.new_state()
    batch = _collate(
        [pipe.prepare({"portrait": [portrait], "driving": portrait, "video_frame": True}, state)]
    )
    assert torch.isfinite(pipe.generate(batch)).all()


def test_the_fomm_recipe_resumes_bit_identically_and_the_default_recipe_trains_it(faces, tmp_path):
    """Interrupted after step 1 and resumed, 2 steps of the fomm recipe (random warps included)
    end where 2 straight steps do; face2img's default config (paired recipe, its projection
    discriminator on the landmark sketch) also fine-tunes a first-order-model generator."""
    from i2i.engine.init import init_from
    from i2i.engine.trainer import Trainer

    modality = get_manager().get_modality("face2img")
    imported, states = init_from(str(CHECKPOINT), modality)

    def trainer(run: str, steps: int, preset: str | None = "fomm") -> Trainer:
        sets = [*SMALL, f"train.steps={steps}", "train.checkpoint_every=1", "optim.decay_from=1.0"]
        if preset is None:
            sets = [s for s in sets if "fomm_perceptual" not in s]
        cfg = load_config(modality, preset, sets=sets, imported=imported)
        return Trainer(cfg, modality, faces, tmp_path / run, progress=False, init=states)

    straight = trainer("a", 2)
    assert set(straight.optimizers) == {"g"} and "discriminator" not in straight.recipe.networks
    straight.fit()
    trainer("b", 1).fit()
    resumed = trainer("b", 2)
    resumed.fit(resume=True)
    for key, value in straight.generator.state_dict().items():
        assert torch.equal(value, resumed.generator.state_dict()[key]), key
    before = dict(straight.generator.state_dict())
    paired = trainer("c", 1, preset=None)
    assert paired.config.recipe == "paired"
    paired.fit()
    moved = [
        k
        for k, v in paired.generator.state_dict().items()
        if k.endswith("weight") and not torch.equal(v, states["generator"][k])
    ]
    assert moved and set(before) == set(paired.generator.state_dict())
