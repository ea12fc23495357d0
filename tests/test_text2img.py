"""text2img: the text conditioner (offline MiniLM), prompt handling, DF-GAN shapes, engine terms, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from i2i.config import load_config
from i2i.engine.trainer import Trainer
from i2i.errors import InputError
from i2i.interfaces import Condition
from i2i.plugins import get_modality
from i2i_text2img.conditioner import TextConditioner, check_prompt
from i2i_text2img.demo import write_birds
from i2i_text2img.nets import DFDiscriminator, DFGenerator

BIN = Path(sys.executable).parent
TINY = [
    "train.batch_size=4",
    "train.log_every=1",
    "train.sample_every=2",
    "train.checkpoint_every=2",
    "train.tensorboard=false",
    "ema.start=0",
    "data.image_size=16",
    "model.generator.image_size=16",
    "model.generator.ngf=8",
    "model.generator.noise_dim=16",
    "model.discriminator.image_size=16",
    "model.discriminator.ndf=8",
]


@pytest.fixture(scope="module")
def conditioner():
    return TextConditioner()


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    out = tmp_path_factory.mktemp("birds")
    write_birds(out, n=24, seed=0, size=32)
    return out


def test_encoder_loads_offline_and_gives_sentence_and_token_features(conditioner):
    cond = conditioner(
        {
            "caption": [
                "red bird with short beak",
                "a blue bird with a long thin beak",
                "red bird with short beak",
            ]
        }
    )
    assert cond.vector.shape == (3, 384) and cond.tokens.shape[::2] == (3, 384)
    assert torch.allclose(cond.vector.norm(dim=1), torch.full((3,), 384**0.5), atol=1e-4)  # ~unit variance
    assert cond.token_mask[1].sum() > cond.token_mask[0].sum()  # the longer caption has more tokens
    assert torch.allclose(cond.vector[0], cond.vector[2], atol=1e-6)  # same text, same vector
    assert (cond.vector[0] @ cond.vector[1]) / 384 < 0.99  # different texts differ
    assert conditioner.state_dict() == {}  # the frozen encoder is not stored in model files


def test_encoder_by_path_matches_the_shipped_name(conditioner, tmp_path):
    from i2i.errors import ConfigError
    from i2i_text2img.conditioner import encoder_path

    by_path = TextConditioner(encoder=encoder_path("minilm"))
    text = ["a small green bird"]
    assert torch.allclose(by_path({"caption": text}).vector, conditioner({"caption": text}).vector, atol=1e-4)
    with pytest.raises(ConfigError, match="cannot load text encoder"):
        _ = TextConditioner(encoder=str(tmp_path / "no-such-encoder")).dim


def test_prompts_are_checked_split_and_truncated(conditioner, tmp_path, caplog):
    with pytest.raises(InputError, match="empty prompt"):
        conditioner.prepare({"prompt": "   \t "})
    with pytest.raises(InputError, match="must be text"):
        check_prompt(42)
    assert conditioner.prepare({"prompt": "  a   red  bird "}) == {"caption": "a red bird"}
    assert conditioner.prepare({"prompt": "ein roter Vogel mit kurzem Schnabel 🐦 — ñ"})["caption"]
    with caplog.at_level("WARNING", logger="i2i.text2img"):
        conditioner.prepare({"prompt": "red bird " * 100})
    assert "tokens" in caplog.text
    long = conditioner({"caption": ["red bird " * 100]})
    assert long.tokens.shape[1] <= conditioner.max_length
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red bird\n\n  \na blue bird\n")
    assert conditioner.samples({"prompt": ["x"], "prompts": str(prompts)}) == [
        {"prompt": "x"},
        {"prompt": "a red bird"},
        {"prompt": "a blue bird"},
    ]
    with pytest.raises(InputError, match="give --prompt"):
        conditioner.samples({})
    with pytest.raises(InputError, match="no such file"):
        conditioner.samples({"prompts": str(tmp_path / "missing.txt")})


@pytest.mark.parametrize("size", [16, 64])
def test_dfgan_shapes_and_text_steers_every_block(size):
    gen, disc = DFGenerator(ngf=8, image_size=size), DFDiscriminator(ndf=8, image_size=size)
    cond = Condition(vector=torch.randn(2, 384))
    z = torch.randn(2, 100)
    image = gen(cond, z)
    assert image.shape == (2, 3, size, size) and image.abs().max() <= 1
    out = disc(image, cond)
    assert out[0].logits.shape == (2, 1) and len(out[0].features) == len(gen.blocks)
    # affine layers start as the identity, so perturb them: then the sentence changes the image
    for p in gen.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    other = Condition(vector=torch.randn(2, 384))
    assert not torch.allclose(gen(cond, z), gen(other, z))
    with pytest.raises(ValueError, match="image_size"):
        DFGenerator(image_size=48)


def test_word_attention_starts_as_identity_reads_words_and_ignores_padding():
    torch.manual_seed(0)
    plain = DFGenerator(ngf=8, image_size=32)
    gen = DFGenerator(ngf=8, image_size=32, word_attention=True, attention_min_size=16)
    assert sorted(gen.attention) == ["1", "2"]  # the 16x16 and 32x32 blocks
    gen.load_state_dict(plain.state_dict(), strict=False)
    tokens, mask = torch.randn(2, 5, 384), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
    cond, z = Condition(vector=torch.randn(2, 384), tokens=tokens, token_mask=mask), torch.randn(2, 100)
    assert torch.equal(gen(cond, z), plain(cond, z))  # gain 0: exactly the sentence-only generator
    for a in gen.attention.values():
        a.gain.data.fill_(1.0)
    base = gen(cond, z)
    padded = tokens.clone()
    padded[0, 3:] = 100.0  # padding of sample 0 changes: must not matter
    padded[1, 0] = torch.randn(384)  # a real word of sample 1 changes: must matter
    moved = gen(Condition(vector=cond.vector, tokens=padded, token_mask=mask), z)
    assert torch.allclose(moved[0], base[0], atol=1e-6)
    assert not torch.allclose(moved[1], base[1], atol=1e-4)
    with pytest.raises(ValueError, match="tokens"):
        gen(Condition(vector=cond.vector), z)


def test_training_reports_matching_aware_terms_and_samples_a_grid(birds, tmp_path):
    modality = get_modality("text2img")
    sets = [*TINY, "train.steps=2", "loss.discriminator.ma_gp.every=1", "model.generator.word_attention=true"]
    cfg = load_config(modality, sets=sets)
    trainer = Trainer(cfg, modality, birds, tmp_path / "run", progress=False)
    trainer.fit()
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["d_mismatch"] > 0 and row["d_ma_gp"] >= 0 and "g_adversarial" in row
    assert (tmp_path / "run" / "model.safetensors").stat().st_size < 2**20


def test_cli_grid_one_row_per_prompt_and_bad_prompt(birds, tmp_path):
    run = tmp_path / "run"
    train = [
        str(BIN / "i2i-train"),
        "--plugin",
        "text2img",
        "--data",
        str(birds),
        "--out",
        str(run),
        "--quiet",
    ]
    for s in [*TINY, "train.steps=2"]:
        train += ["--set", s]
    proc = subprocess.run(train, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "grid.png"
    cmd = [str(BIN / "i2i-run"), "--checkpoint", str(run), "--prompt", "red bird with short beak"]
    cmd += ["--prompt", "a blue bird", "--num-samples", "3", "--seed", "3", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    assert Image.open(out).size == (3 * 16, 2 * 16)
    truncated = tmp_path / "truncated.png"
    proc = subprocess.run([*cmd[:-1], str(truncated), "--truncation", "0.5"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(truncated).size == (3 * 16, 2 * 16)
    assert Image.open(truncated).tobytes() != Image.open(out).tobytes()  # the noise reached G
    bad = subprocess.run(
        [str(BIN / "i2i-run"), "--checkpoint", str(run), "--prompt", "  ", "--out", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "empty prompt" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.png").exists()
