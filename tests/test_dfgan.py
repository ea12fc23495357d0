"""text2img imports DF-GAN (github.com/tobran/DF-GAN): parity with the original's own sampling code on
the fixtures of tests/fixtures/dfgan (made by its make_fixtures.py), tokenisation, the files of a
DF-GAN folder, the restricted vocabulary unpickler, saving/exporting the imported model, and the
`--config dfgan` preset's full-size parameter counts."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i.engine import checkpoint as ckpt
from i2i.errors import InputError
from i2i.interfaces import Condition
from i2i.pipeline import load_pipeline
from i2i_text2img.dfgan import encoder_key, find_files, import_dfgan
from i2i_text2img.encoders.damsm import DAMSMTextEncoder, read_vocabulary, tokenize

FIXTURE = Path(__file__).parent / "fixtures" / "dfgan"
BIN = Path(sys.executable).parent
EXPECTED = json.loads((FIXTURE / "expected_ids.json").read_text())
PROMPTS: list[str] = EXPECTED["prompts"]


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline(FIXTURE, plugin="text2img", device="cpu")


def _images(pipe, prompts=PROMPTS) -> np.ndarray:
    """(prompts, draws, 3, H, W) from the original's noise, as sample_example pairs them."""
    noise = torch.from_numpy(np.load(FIXTURE / "noise.npy"))
    with torch.no_grad():
        vector = pipe.conditioner({"caption": list(prompts)}).vector
        out = [
            pipe.generator(Condition(vector=v[None].expand(noise.shape[0], -1)), noise).numpy()
            for v in vector
        ]
    return np.stack(out)


def _copy_fixture(dest: Path, generator: bool = True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("text_encoder200.pth", "captions_DAMSM.pickle") + (
        ("state_epoch_050.pth",) if generator else ()
    ):
        shutil.copy(FIXTURE / name, dest / name)
    return dest


# ---- parity --------------------------------------------------------------------------------------
def test_imported_config_is_read_off_the_weights(pipe):
    g, c = pipe.config.model.generator, pipe.config.model.conditioner
    assert (g.name, g.layout, g.ngf, g.noise_dim, g.cond_dim, g.image_size) == (
        "dfgan",
        "original",
        4,
        100,
        32,
        64,
    )
    assert c.encoder == "damsm"
    assert (c.damsm.vocab_size, c.damsm.embedding_dim, c.damsm.hidden, c.damsm.bidirectional) == (
        48,
        300,
        32,
        True,
    )


def test_sentence_vectors_and_images_match_the_original(pipe):
    with torch.no_grad():
        vector = pipe.conditioner({"caption": PROMPTS}).vector.numpy()
    assert np.abs(vector - np.load(FIXTURE / "sent_emb.npy")).max() <= 1e-5
    expected = np.load(FIXTURE / "expected.npy")
    got = _images(pipe)
    assert got.shape == expected.shape == (5, 2, 3, 64, 64)
    assert np.abs(got - expected).max() <= 1e-4
    # the fixture is a real test: prompts and draws give different images
    assert (
        np.abs(expected[0] - expected[1]).mean() > 1e-3
        and np.abs(expected[:, 0] - expected[:, 1]).mean() > 1e-2
    )


def test_original_discriminator_loads_netD_and_netC_and_matches():
    from i2i_text2img.dfgan import DFGANDiscriminator

    saved = torch.load(FIXTURE / "state_epoch_050.pth", weights_only=True)["model"]
    disc = DFGANDiscriminator(cond_dim=32, ndf=4, image_size=64).eval()
    disc.load_state_dict({**saved["netD"], **saved["netC"]})  # strict: the original's keys as they are
    images = torch.from_numpy(np.load(FIXTURE / "expected.npy")[0])
    vector = torch.from_numpy(np.load(FIXTURE / "sent_emb.npy")[:1]).expand(2, -1)
    with torch.no_grad():
        (out,) = disc(images, Condition(vector=vector))
    assert np.abs(out.logits.numpy().ravel() - np.load(FIXTURE / "d_logits.npy").ravel()).max() <= 1e-5


def test_tokenisation_matches_the_original():
    wordtoix = {w: i for i, w in enumerate(read_vocabulary(FIXTURE / "captions_DAMSM.pickle"))}
    assert [tokenize(p, wordtoix)[0] for p in PROMPTS] == EXPECTED["ids"]
    assert tokenize("A café-coloured bird with a stubby orange beak", wordtoix)[1] == [
        "café",
        "coloured",
        "stubby",
    ]
    assert tokenize("RED, bird!", wordtoix)[0] == [wordtoix["red"], wordtoix["bird"]]


def test_bare_netG_state_dict_with_ddp_prefix(tmp_path, pipe):
    """An older-style `netG_XXX.pth` (a bare state dict), here as saved from DDP ('module.' keys)."""
    folder = _copy_fixture(tmp_path / "bare", generator=False)
    state = torch.load(FIXTURE / "state_epoch_050.pth", weights_only=True)["model"]["netG"]
    torch.save({f"module.{k}": v for k, v in state.items()}, folder / "netG_550.pth")
    other = load_pipeline(folder, plugin="text2img", device="cpu")
    assert np.abs(_images(other, PROMPTS[:2]) - np.load(FIXTURE / "expected.npy")[:2]).max() <= 1e-4


# ---- the files of a DF-GAN folder ---------------------------------------------------------------
def test_missing_files_are_named_in_one_line(tmp_path):
    folder = tmp_path / "only_g"
    folder.mkdir()
    shutil.copy(FIXTURE / "state_epoch_050.pth", folder)
    with pytest.raises(InputError) as err:
        find_files(folder)
    message = str(err.value)
    assert "\n" not in message and "text_encoder*.pth" in message and "captions_DAMSM.pickle" in message
    assert "state_epoch" not in message
    # the encoder and vocabulary may sit one folder down, as in the original's data/birds/DAMSMencoder/
    (folder / "DAMSMencoder").mkdir()
    shutil.copy(FIXTURE / "text_encoder200.pth", folder / "DAMSMencoder")
    shutil.copy(FIXTURE / "captions_DAMSM.pickle", folder)
    found = find_files(folder / "state_epoch_050.pth")
    assert found["encoder"].parent.name == "DAMSMencoder"


def test_wrong_files_are_refused_with_the_reason(tmp_path):
    folder = _copy_fixture(tmp_path / "v1", generator=False)
    torch.save({"block0.affine0.fc_gamma.linear1.weight": torch.zeros(256, 256)}, folder / "netG_600.pth")
    with pytest.raises(InputError, match="DF-GAN v1"):
        import_dfgan(folder)
    (folder / "netG_600.pth").unlink()
    torch.save({"weight": torch.zeros(3)}, folder / "netG_1.pth")
    with pytest.raises(InputError, match="not a DF-GAN NetG"):
        import_dfgan(folder)
    (folder / "netG_1.pth").unlink()
    # an encoder whose LSTM does not read its embedding, and one whose sentence is not NetG's cond_dim
    encoder = torch.load(FIXTURE / "text_encoder200.pth", weights_only=True)
    torch.save(
        {k: v[:, :8] if k == "encoder.weight" else v for k, v in encoder.items()},
        folder / "text_encoder200.pth",
    )
    shutil.copy(FIXTURE / "state_epoch_050.pth", folder)
    with pytest.raises(InputError, match="not a recognised DAMSM RNN_ENCODER: rnn.weight_ih_l0 has shape"):
        load_pipeline(folder, plugin="text2img", device="cpu")
    rnn = torch.nn.LSTM(300, 8, batch_first=True, bidirectional=True)
    small = {
        "encoder.weight": encoder["encoder.weight"],
        **{f"rnn.{k}": v for k, v in rnn.state_dict().items()},
    }
    torch.save(small, folder / "text_encoder200.pth")
    with pytest.raises(InputError, match="sentence size 16 does not match the generator's cond_dim 32"):
        load_pipeline(folder, plugin="text2img", device="cpu")


def test_vocabulary_pickle_is_read_without_running_code(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "captions_DAMSM.pickle"
    path.write_bytes(pickle.dumps([[], [], {}, {"<end>": 0, "x": Boom()}], protocol=2))
    with pytest.raises(InputError, match="refused to load __builtin__.print"):
        read_vocabulary(path)
    path.write_bytes(pickle.dumps([[], [], {}, {"x": Boom()}]))  # protocol 5 names builtins.print
    with pytest.raises(InputError, match="refused to load builtins.print"):
        read_vocabulary(path)
    path.write_bytes(pickle.dumps({"not": "a list"}))
    with pytest.raises(InputError, match="expected \\[train, test, ixtoword, wordtoix\\]"):
        read_vocabulary(path)
    buf = io.BytesIO()
    pickle.dump([[[1]], [[1]], {0: "<end>", 1: "bird"}, {"<end>": 0, "bird": 1}], buf, protocol=2)
    path.write_bytes(buf.getvalue())
    assert read_vocabulary(path) == ["<end>", "bird"]


# ---- the command line ----------------------------------------------------------------------------
def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "i2i-run"), "--plugin", "text2img", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_reports_unknown_words_and_refuses_prompts_with_none_known(tmp_path):
    out = tmp_path / "birds.png"
    done = _run(
        "--checkpoint", str(FIXTURE), "--prompt", "red bird with tiny beak", "--seed", "3", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert out.exists()
    lines = [line for line in done.stderr.splitlines() if "vocabulary" in line]
    assert lines == ["DAMSM vocabulary lacks tiny (dropped from 'red bird with tiny beak')"]
    bad = _run("--checkpoint", str(FIXTURE), "--prompt", "zebra xylophone", "--out", str(tmp_path / "no.png"))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --prompt: no word of 'zebra xylophone' is in the DAMSM vocabulary (48 words)"
    ]
    assert not (tmp_path / "no.png").exists()


def test_cli_names_the_missing_file(tmp_path):
    folder = tmp_path / "partial"
    _copy_fixture(folder)
    (folder / "captions_DAMSM.pickle").unlink()
    done = _run("--checkpoint", str(folder), "--prompt", "red bird", "--out", str(tmp_path / "x.png"))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "missing captions_DAMSM.pickle (the vocabulary)" in line and "Traceback" not in done.stderr


# ---- the imported model as an i2i model -----------------------------------------------------------
def test_saves_as_a_model_file_that_needs_no_original_files(tmp_path):
    source = _copy_fixture(tmp_path / "dfgan")
    imported = load_pipeline(source, plugin="text2img", device="cpu")
    model = tmp_path / "dfgan.safetensors"
    modules = {"generator": imported.generator, "conditioner": imported.conditioner}
    ckpt.save_model(model, imported.config.to_json(), modules, {"plugin": "text2img"})
    shutil.rmtree(source)  # the model file alone must hold weights and vocabulary
    _, parts = ckpt.load_model(model)
    assert parts["conditioner"]["damsm.words"].dtype == torch.uint8
    assert model.stat().st_size < 1_200_000
    reloaded = load_pipeline(model, device="cpu")
    assert np.abs(_images(reloaded) - np.load(FIXTURE / "expected.npy")).max() <= 1e-4
    with pytest.raises(InputError, match="DAMSM vocabulary"):
        reloaded.prepare({"prompt": "zebra"})


def test_export_writes_generator_and_damsm_encoder(tmp_path):
    pytest.importorskip("onnxruntime")
    from i2i.export import export_onnx

    result = export_onnx(FIXTURE, tmp_path / "dfgan.onnx", plugin="text2img")
    assert result.max_abs_diff <= 1e-3
    part = result.parts["text_encoder"]
    assert part.model.exists() and part.max_abs_diff <= 1e-4
    words = json.loads(part.files["vocab.json"].read_text())["words"]
    assert words == read_vocabulary(FIXTURE / "captions_DAMSM.pickle")
    # the exported encoder alone (ONNX Runtime + vocab.json) gives the original's sentence vectors
    import onnxruntime

    session = onnxruntime.InferenceSession(str(part.model), providers=["CPUExecutionProvider"])
    ids = [tokenize(p, {w: i for i, w in enumerate(words)})[0] for p in PROMPTS]
    width = max(map(len, ids))
    feed = {
        "input_ids": np.array([r + [0] * (width - len(r)) for r in ids], dtype=np.int64),
        "attention_mask": np.array([[1] * len(r) + [0] * (width - len(r)) for r in ids], dtype=np.int64),
    }
    vector = session.run(None, feed)[0]
    assert np.abs(vector - np.load(FIXTURE / "sent_emb.npy")).max() <= 1e-5


def test_damsm_encoder_equals_the_packed_lstm():
    """The padded-batch computation gives what pack_padded_sequence gives (the original's way)."""
    torch.manual_seed(0)
    for bidirectional in (True, False):
        enc = DAMSMTextEncoder(30, 12, 8, bidirectional).eval()
        rnn = torch.nn.LSTM(
            12, 8 // (2 if bidirectional else 1), batch_first=True, bidirectional=bidirectional
        )
        original = {
            "encoder.weight": torch.randn(30, 12),
            **{f"rnn.{k}": v for k, v in rnn.state_dict().items()},
        }
        enc.load_state_dict({encoder_key(k): v for k, v in original.items()})
        lengths = torch.tensor([7, 5, 5, 2, 1])
        ids = torch.randint(1, 30, (5, 7)) * (torch.arange(7)[None] < lengths[:, None])
        mask = (torch.arange(7)[None] < lengths[:, None]).long()
        with torch.no_grad():
            vector, tokens, _ = enc(ids, mask)
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                enc.embedding(ids), lengths.tolist(), batch_first=True
            )
            out, (h, _) = rnn(packed)
            words = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)[0]
        assert torch.allclose(vector, h.transpose(0, 1).reshape(5, -1), atol=1e-6)
        assert torch.allclose(tokens, words, atol=1e-6)


# ---- the preset --------------------------------------------------------------------------------------
def test_preset_rebuilds_full_size_dfgan_with_the_original_parameter_counts():
    from i2i.config import load_config
    from i2i.engine.build import build_conditioner, build_discriminator, build_generator
    from i2i.plugins import get_modality

    modality = get_modality("text2img")
    config = load_config(modality, "dfgan")
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    # measured from the original's classes (github.com/tobran/DF-GAN @ 78f14fd, code/models/GAN.py and
    # DAMSM.py): NetG(32, 100, 256, 256, 3), NetD(32, 256, 3) + NetC(32, 256), RNN_ENCODER(5450, nhidden=256)
    assert count(build_generator(config)) == 9_744_131
    assert count(build_discriminator(config)) == 6_619_206 + 295_936
    assert count(build_conditioner(modality, config)) == 2_075_320
    assert config.data.image_size == 256 and config.optim.lr_g == 1e-4 and config.optim.lr_d == 4e-4
    assert list(config.optim.betas_g) == [0.0, 0.9] and config.loss.gan == "hinge"
    d = config.loss.discriminator
    assert (d.adversarial.real, d.adversarial.fake, d.mismatch) == (1.0, 0.5, 0.5)
    assert config.loss.generator.l1 == 0.0 and config.ema.decay == 0.0
    assert (d.ma_gp.weight, d.ma_gp.power, d.ma_gp.every) == (2.0, 6.0, 1)
