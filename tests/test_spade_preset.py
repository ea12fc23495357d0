"""The `--config spade` preset rebuilds the original SPADE at full size with its recipe, and an
original checkpoint fine-tunes through `i2i-train --init`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.config import load_config
from i2i.engine.build import build_conditioner, build_discriminator, build_generator
from i2i.pipeline import load_pipeline
from i2i.plugins import get_modality

FIXTURE = Path(__file__).parent / "fixtures" / "spade" / "more-aspect2-dontcare-instance"

# Measured once with the original code (NVlabs/SPADE fecacc9, `--dataset_mode cityscapes`, its
# print_network "Total number of parameters" as exact counts): SPADEGenerator 93,048,003 (101,136,579
# with --use_vae), ConvEncoder 10,463,424, MultiscaleDiscriminator 5,601,410.
ORIGINAL_G, ORIGINAL_G_VAE, ORIGINAL_E, ORIGINAL_D = 93_048_003, 101_136_579, 10_463_424, 5_601_410
# i2i's PatchGAN keeps the bias of its convolutions before instance norm (the original deletes it):
# 128 + 256 + 512 per scale, 2 scales.
D_BIASES = 2 * (128 + 256 + 512)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_spade_preset_is_the_originals_cityscapes_model() -> None:
    modality = get_modality("seg2img")
    config = load_config(modality, "spade")
    with torch.device("meta"):
        assert _count(build_generator(config)) == ORIGINAL_G
        assert _count(build_discriminator(config)) == ORIGINAL_D + D_BIASES
        vae = load_config(
            modality, "spade", ["model.generator.use_vae=true", "model.conditioner.style_image=true"]
        )
        generator = build_generator(vae)
        assert (_count(generator.net), _count(generator.encoder)) == (ORIGINAL_G_VAE, ORIGINAL_E)
    g = config.model.generator
    assert (g.num_upsampling_layers, g.crop_size, g.aspect_ratio, g.label_channels) == ("more", 512, 2.0, 36)
    assert build_conditioner(modality, config).channels == 36  # 35 one-hot + the instance edges
    # the recipe: hinge, FM 10 x 4 D layers, VGG 10, KL 0.05, TTUR 1e-4 / 4e-4, betas (0, 0.9)
    assert config.loss.gan == "hinge"
    gen_terms = config.loss.generator
    assert (gen_terms.feature_matching, gen_terms.vgg, gen_terms.kl, gen_terms.l1) == (40.0, 10.0, 0.05, 0.0)
    assert (config.optim.lr_g, config.optim.lr_d, list(config.optim.betas_g)) == (1e-4, 4e-4, [0.0, 0.9])
    assert config.optim.decay_from == 0.5


def _tiny_data(root: Path, n: int = 3) -> Path:
    """6 classes with don't-care pixels and instance maps, at the fixture's 128 x 64."""
    rng = np.random.default_rng(0)
    colours = [[70, 130, 180], [70, 70, 70], [128, 64, 128], [107, 142, 35], [0, 0, 142], [220, 20, 60]]
    classes = [{"id": i, "name": f"c{i}", "color": c} for i, c in enumerate(colours)]
    root.mkdir(parents=True)
    (root / "classes.json").write_text(json.dumps({"classes": classes, "ignore_index": 255}))
    for i in range(n):
        split = "test" if i == n - 1 else "train"
        for folder in ("labels", "images", "instances"):
            (root / split / folder).mkdir(parents=True, exist_ok=True)
        labels = np.repeat(rng.integers(0, 6, (4, 8)), 16, 0).repeat(16, 1).astype(np.uint8)
        labels[:8, :8] = 255
        photo = np.array(colours + [[0, 0, 0]] * 250, np.uint8)[labels]
        Image.fromarray(labels).save(root / split / "labels" / f"{i}.png")
        Image.fromarray(photo).save(root / split / "images" / f"{i}.png")
        Image.fromarray(labels.astype(np.uint16) * 10).save(root / split / "instances" / f"{i}.png")
    return root


def test_fine_tune_an_original_checkpoint(tmp_path: Path) -> None:
    """`i2i-train --config spade --init latest_net_G.pth`: the run keeps the imported architecture
    and conditioner (don't care, edges), starts from its weights and moves them by a few Adam steps."""
    data = _tiny_data(tmp_path / "data")
    run = tmp_path / "run"
    sets = ["data.num_classes=6", "train.steps=2", "train.batch_size=1", "loss.generator.vgg=0",
            "model.discriminator.ndf=8", "model.discriminator.n_layers=2", "model.discriminator.num_scales=1",
            "train.tensorboard=false", "train.precision=fp32", "train.sample_every=2", "train.checkpoint_every=2"]  # fmt: skip
    argv = ["--plugin", "seg2img", "--config", "spade", "--init", str(FIXTURE / "latest_net_G.pth"),
            "--data", str(data), "--out", str(run), "--quiet", *[a for s in sets for a in ("--set", s)]]  # fmt: skip
    from i2i.cli.main import train_main  # i2i-train, in this process (no second torch import)

    with pytest.raises(SystemExit) as info:
        train_main(argv)
    assert info.value.code == 0
    tuned = load_pipeline(run / "model.safetensors", device="cpu")
    imported = load_pipeline(FIXTURE / "latest_net_G.pth", plugin="seg2img", device="cpu")
    assert dict(tuned.config.model.generator) == dict(imported.config.model.generator)
    assert (
        tuned.config.model.conditioner.dontcare_channel
        and tuned.config.model.discriminator.cond_channels == 8
    )
    start = dict(imported.generator.named_parameters())
    moved = [(value - start[name]).abs().max().item() for name, value in tuned.generator.named_parameters()]
    assert 0 < max(moved) < 1e-2  # trained, from the imported weights (2 steps at lr 1e-4)
    labels = torch.from_numpy(np.array(Image.open(data / "test" / "labels" / "2.png"))).long()
    batch = tuned.prepare({"labels": labels[None]})
    out = tuned.generate(torch.utils.data.default_collate([batch]))
    assert out.shape == (1, 3, 64, 128) and out.abs().max() <= 1


def test_a_discriminator_of_another_width_is_one_line_before_training() -> None:
    """The default config's discriminator reads i2i's layout (classes + edges); an imported SPADE
    model with a don't-care channel needs one more: the validator says so, the preset fits."""
    from i2i.engine.init import init_from
    from i2i.errors import ConfigError
    from i2i.validation import validate

    modality = get_modality("seg2img")
    imported, _ = init_from(str(FIXTURE / "latest_net_G.pth"), modality)
    default = load_config(modality, None, ["data.num_classes=6"], imported=imported)
    with pytest.raises(ConfigError, match="reads 7 condition channels but the conditioner makes 8"):
        validate(modality, default)
    validate(modality, load_config(modality, "spade", ["data.num_classes=6"], imported=imported))
    vae = load_config(modality, "spade", ["model.generator.use_vae=true", "data.resize_mode=resize_and_crop"])
    with pytest.raises(ConfigError, match="with use_vae the generator always makes 512x256 images"):
        validate(modality, vae)


def test_vae_training_feeds_the_real_photo_to_the_encoder_and_the_kl_term() -> None:
    """While training, the conditioner passes the real photo; the generator samples z from its
    encoder's posterior and leaves mu / logvar in Condition.aux for the `kl` term."""
    from i2i.terms import StepContext
    from i2i_seg2img.losses import StyleKL

    vae = load_pipeline(FIXTURE.parent / "vae-normal-instance5x5" / "latest_net_G.pth", plugin="seg2img")
    cond_net, gen = vae.conditioner.train(), vae.generator.train()
    batch = {"labels": torch.randint(0, 5, (2, 64, 256)), "target": torch.rand(2, 3, 64, 256) * 2 - 1}
    cond = cond_net(batch)
    assert torch.equal(cond.refs, batch["target"])
    torch.manual_seed(0)
    fake = gen(cond)
    with torch.no_grad():  # eval: spectral norm's u / v as the training call left them, no new iteration
        mu = gen.encoder.eval()(batch["target"])[0]
    assert torch.allclose(cond.aux["mu"], mu) and fake.shape == (2, 3, 64, 256)
    with torch.no_grad():  # at inference the same photo gives the mean: training samples around it
        mean = gen.eval()(cond_net.eval()({"labels": batch["labels"], "style": batch["target"]}))
    assert (fake - mean).abs().max() > 1e-3
    ctx = StepContext(0, "hinge", batch, cond, batch["target"], fake, [], lambda *a: [], None, aux=cond.aux)
    kl = StyleKL()(ctx)
    assert kl.item() > 0 and kl.requires_grad
