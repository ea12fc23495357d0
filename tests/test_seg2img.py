"""seg2img: label-map readers (index, palette, colour, bad ids), SPADE blocks, the style VAE,
training and the CLI on a tiny hand-made data set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.config import load_config
from i2i.data.images import read_labels
from i2i.errors import ConfigError, InputError
from i2i.nets.spade import SPADE, SPADEGenerator
from i2i.plugins import get_modality
from i2i.terms import StepContext
from i2i_seg2img.conditioner import SegConditioner, boundaries, one_hot
from i2i_seg2img.data import SegDataset
from i2i_seg2img.labels import read_classes, to_ids
from i2i_seg2img.losses import StyleKL

BIN = Path(sys.executable).parent
COLOURS = [(70, 130, 180), (70, 70, 70), (128, 64, 128)]  # sky, building, road
TINY = [
    "data.num_classes=3",
    "data.load_size=16",
    "data.crop_size=16",
    "train.batch_size=2",
    "train.log_every=1",
    "train.sample_every=2",
    "train.checkpoint_every=2",
    "train.tensorboard=false",
    "model.generator.levels=2",
    "model.generator.ngf=4",
    "model.generator.hidden=8",
    "model.conditioner.style_dim=8",
    "model.conditioner.encoder_ngf=4",
    "model.discriminator.ndf=8",
    "model.discriminator.n_layers=2",
    "model.discriminator.num_scales=1",
]


def _scene(rng: np.random.Generator, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros((size, size), np.uint8)
    horizon = int(rng.integers(size // 3, size // 2))
    labels[horizon:] = 1
    labels[size - size // 4 :] = 2
    photo = np.array(COLOURS, np.float32)[labels] + rng.normal(0, 8, (size, size, 3))
    return labels, photo.clip(0, 255).astype(np.uint8)


def write_tiny(root: Path, n: int = 6, colour_maps: bool = False) -> Path:
    rng = np.random.default_rng(0)
    classes = [
        {"id": i, "name": name, "color": list(c)}
        for i, (name, c) in enumerate(zip(["sky", "building", "road"], COLOURS))
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(json.dumps({"classes": classes, "ignore_index": 255}))
    for i in range(n):
        split = "test" if i == n - 1 else "train"
        labels, photo = _scene(rng)
        (root / split / "labels").mkdir(parents=True, exist_ok=True)
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        label_img = (
            Image.fromarray(np.array(COLOURS, np.uint8)[labels]) if colour_maps else Image.fromarray(labels)
        )
        label_img.save(root / split / "labels" / f"{i:03d}.png")
        Image.fromarray(photo).save(root / split / "images" / f"{i:03d}.jpg")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("seg") / "data")


# ---- label readers ------------------------------------------------------------------------------
def test_index_palette_and_colour_maps_give_the_same_ids(tmp_path):
    ids = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    Image.fromarray(ids).save(tmp_path / "index.png")
    pal = Image.fromarray(ids, "P")
    pal.putpalette([v for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)] for v in c])
    pal.save(tmp_path / "palette.png")
    Image.fromarray(np.array(COLOURS, np.uint8)[ids]).save(tmp_path / "colour.png")
    Image.fromarray(ids.astype(np.uint16) * 300).save(tmp_path / "wide.png")  # 16-bit ids survive
    palette = torch.tensor(COLOURS)
    for name in ("index", "palette", "colour"):
        raw = read_labels(tmp_path / f"{name}.png")
        assert torch.equal(to_ids(raw, 3, palette, where=name), torch.from_numpy(ids).long()), name
    assert read_labels(tmp_path / "wide.png").max() == 600


def test_bad_ids_and_colours_are_named_with_their_value(tmp_path):
    raw = torch.tensor([[[0, 1], [7, 255]]])
    assert to_ids(raw[:, :1], 3, None).tolist() == [[0, 1]]
    with pytest.raises(InputError, match=r"x\.png: class id 7 at \(x=0, y=1\) is out of range 0\.\.2"):
        to_ids(raw, 3, None, where="x.png")
    assert to_ids(torch.tensor([[[0, 255]]]), 3, None).tolist() == [[0, 255]]  # don't-care kept
    colour = torch.tensor([[[70], [130], [180]]]).reshape(3, 1, 1).expand(3, 1, 2).clone()
    colour[:, 0, 1] = torch.tensor([250, 250, 0])
    with pytest.raises(InputError, match=r"colour \(250, 250, 0\) at \(x=1, y=0\)"):
        to_ids(colour, 3, torch.tensor(COLOURS))
    with pytest.raises(InputError, match="needs the class colours"):
        to_ids(colour, 3, None)


def test_class_list_errors_name_the_file(tmp_path):
    bad = tmp_path / "classes.json"
    bad.write_text('{"classes": [{"id": 1, "name": "a", "color": [0, 0, 0]}]}')
    with pytest.raises(InputError, match="classes.json: class 0: ids must be"):
        read_classes(bad)
    bad.write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        read_classes(bad)
    with pytest.raises(InputError, match="no class list"):
        read_classes(tmp_path / "missing.json")


def test_dataset_pairs_by_name_checks_class_count_and_reads_colour_maps(tmp_path):
    root = write_tiny(tmp_path / "c", colour_maps=True)
    cfg = load_config(get_modality("seg2img"), sets=TINY).data
    ds = SegDataset(root, cfg, "train", True)
    sample = ds[(0, 1)]
    assert sample["labels"].shape == (16, 16) and sample["target"].shape == (3, 16, 16)
    assert set(sample["labels"].unique().tolist()) <= {0, 1, 2}
    assert torch.equal(sample["palette"], torch.tensor(COLOURS))
    wrong = load_config(get_modality("seg2img"), sets=[*TINY, "data.num_classes=5"]).data
    with pytest.raises(ConfigError, match="lists 3 classes but data.num_classes is 5"):
        SegDataset(root, wrong, "train", True)
    (root / "train" / "images" / "000.jpg").unlink()
    with pytest.raises(InputError, match="000.png: no photo with this name"):
        SegDataset(root, cfg, "train", True)


# ---- networks -----------------------------------------------------------------------------------
def test_one_hot_ignores_dont_care_and_edges_follow_boundaries():
    ids = torch.tensor([[[0, 0, 2], [255, 1, 1]]])
    hot = one_hot(ids, 3)
    assert hot.shape == (1, 3, 2, 3) and hot[0, :, 1, 0].sum() == 0 and hot[0, 2, 0, 2] == 1
    edges = boundaries(torch.tensor([[[1, 1, 1, 1], [1, 1, 2, 2]]]))
    assert edges[0, 0].tolist() == [[0, 0, 1, 1], [0, 1, 1, 1]]


def test_spade_uses_the_layout_at_every_pixel_and_the_style_globally():
    torch.manual_seed(0)
    layer = SPADE(4, 3, hidden=8, style_dim=5)
    x = torch.randn(2, 4, 8, 8)
    labels = one_hot(torch.randint(0, 3, (2, 8, 8)), 3)
    for p in layer.style.parameters():
        torch.nn.init.normal_(p)
    base = layer(x, labels, torch.zeros(2, 5))
    other = labels.clone()
    other[:, :, :4] = one_hot(torch.zeros(2, 4, 8, dtype=torch.long), 3)
    changed = (layer(x, other, torch.zeros(2, 5)) - base).abs().sum(1) > 1e-6
    assert changed[:, :5].any() and not changed[:, 6:].any()  # 3x3 convs: only rows near the change
    assert not torch.allclose(layer(x, labels, torch.randn(2, 5)), base)
    gen = SPADEGenerator(label_channels=4, ngf=4, levels=3, hidden=8, style_dim=5)
    out = gen(torch.randn(2, 4, 24, 16), torch.randn(2, 5))
    assert out.shape == (2, 3, 24, 16) and out.abs().max() <= 1
    with pytest.raises(ValueError, match="multiple of 8"):
        gen(torch.randn(1, 4, 20, 16))


def test_style_vae_codes_the_photo_in_training_and_noise_otherwise():
    cond = SegConditioner(num_classes=3, style_dim=8, encoder_ngf=4)
    batch = {"labels": torch.zeros(2, 16, 16, dtype=torch.long), "target": torch.randn(2, 3, 16, 16)}
    c = cond(batch)
    assert c.maps.shape == (2, 4, 16, 16) and c.vector.shape == (2, 8)
    view = StepContext(0, "hinge", batch, c, batch["target"], torch.zeros(1), [], None, aux=c.aux)  # type: ignore[arg-type]
    kl = StyleKL()(view)
    assert kl.item() > 0 and kl.requires_grad
    assert c.detach().aux == {}  # the posterior belongs to this forward pass only
    cond.eval()
    assert cond(batch).vector is None  # inference: the generator draws N(0, 1) noise
    styled = cond({**batch, "style": torch.randn(2, 3, 64, 64)})
    assert styled.vector.shape == (2, 8) and styled.aux == {}  # an example's code: no KL


def test_config_networks_follow_num_classes():
    cfg = load_config(get_modality("seg2img"), sets=["data.num_classes=35"])
    assert cfg.model.generator.num_classes == 35 == cfg.model.discriminator.num_classes
    assert cfg.model.conditioner.num_classes == 35
    assert cfg.model.generator.style_dim == cfg.model.conditioner.style_dim


# ---- engine and CLI -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    run = tmp_path_factory.mktemp("seg-run") / "run"
    cmd = [str(BIN / "i2i-train"), "--plugin", "seg2img", "--data", str(tiny), "--out", str(run), "--quiet"]
    for s in [*TINY, "train.steps=4"]:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return run


def i2i_run(run: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "i2i-run"), "--checkpoint", str(run), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_training_logs_kl_and_feature_matching_and_keeps_the_class_colours(trained):
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert "g_kl" in rows[-1] and "g_feature_matching" in rows[-1]
    from i2i.pipeline import load_pipeline

    assert load_pipeline(trained).conditioner.palette.tolist() == [list(c) for c in COLOURS]


def test_samples_differ_by_seed_repeat_by_seed_and_bad_ids_are_named(tiny, trained, tmp_path):
    label = tiny / "test" / "labels" / "005.png"
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        proc = i2i_run(
            trained,
            "--labels",
            str(label),
            "--out",
            str(tmp_path / f"{name}.png"),
            "--seed",
            seed,
            "--num-samples",
            "2",
        )
        assert proc.returncode == 0, proc.stderr
    a, b, c = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in "abc")
    assert a.shape == (16, 32, 3) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a[:, :16], a[:, 16:])  # the two samples of one map differ
    bad = tmp_path / "bad.png"
    Image.fromarray(np.full((16, 16), 9, np.uint8)).save(bad)
    proc = i2i_run(trained, "--labels", str(bad), "--out", str(tmp_path / "x.png"))
    assert proc.returncode == 2 and "bad.png: class id 9" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_colour_maps_folder_style_example_and_video(tiny, trained, tmp_path):
    colour = write_tiny(tmp_path / "colour", n=3, colour_maps=True) / "train" / "labels"
    proc = i2i_run(trained, "--labels", str(colour), "--out", str(tmp_path / "out"), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000.png", "001.png"]
    label, photo = colour / "000.png", tiny / "train" / "images" / "000.jpg"
    styled = [tmp_path / "s1.png", tmp_path / "s2.png"]
    for out, seed in zip(styled, ("1", "2")):
        proc = i2i_run(
            trained, "--labels", str(label), "--style", str(photo), "--seed", seed, "--out", str(out)
        )
        assert proc.returncode == 0, proc.stderr
    # the style comes from the example, not the noise: seeds no longer matter
    assert np.array_equal(np.asarray(Image.open(styled[0])), np.asarray(Image.open(styled[1])))

    from i2i.data.video import VideoWriter, probe_video

    ids = torch.from_numpy(np.array(Image.open(tiny / "test" / "labels" / "005.png"))).long()
    frame = (torch.tensor(COLOURS)[ids].permute(2, 0, 1).float() / 127.5 - 1)[None]
    clip = tmp_path / "labels.mp4"
    with VideoWriter(clip, fps=5) as writer:
        writer.write(frame.expand(4, -1, -1, -1).contiguous())
    proc = i2i_run(trained, "--labels", str(clip), "--out", str(tmp_path / "photos.mp4"), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    info = probe_video(tmp_path / "photos.mp4")
    assert (info.width, info.height, info.frames) == (16, 16, 4)


def test_eval_reports_miou_with_ceiling_and_floor_diversity_and_colours(tiny, trained, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [str(BIN / "i2i"), "eval", "--checkpoint", str(trained), "--data", str(tiny), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 1 and "PROXY" in result["notes"]
    result = result["metrics"]
    assert result["miou"]["real_images_ceiling"] > 0.8  # the proxy segmenter reads real photos
    assert 0 <= result["miou"]["model"] <= 1 and 0 <= result["miou"]["other_maps_floor"] <= 1
    assert result["diversity_l1"] > 0 and result["class_colour_error"] >= 0
    assert list((tmp_path / "cache" / "i2i" / "seg2img").glob("segmenter-*.safetensors"))  # cached


def test_temporal_mode_trains_on_consecutive_label_maps_and_uses_the_previous_frame(tiny, tmp_path):
    """seg2img's frames (named in order) train in temporal mode; at inference the previous output
    changes the next frame, and the first frame is the per-frame model's."""
    from i2i.config import load_config
    from i2i.engine.trainer import Trainer
    from i2i.pipeline import load_pipeline
    from i2i.plugins import get_modality

    modality = get_modality("seg2img")
    cfg = load_config(modality, sets=[*TINY, "train.steps=3", "temporal.enabled=true"])
    Trainer(cfg, modality, tiny, tmp_path / "run", progress=False).fit()
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["g_temporal"] > 0
    pipe = load_pipeline(tmp_path / "run", device="cpu")
    assert pipe.temporal
    from i2i_seg2img.data import SegDataset

    clip = SegDataset(tiny, cfg.data, "train", False)
    frames = [{k: v for k, v in clip[i].items() if k != "target"} for i in range(2)]
    both = pipe.generate_frames(frames, {}, seed=0)
    alone = pipe.generate(torch.utils.data.default_collate(frames[1:]), seed=0)
    first = pipe.generate(torch.utils.data.default_collate(frames[:1]), seed=0)
    assert torch.allclose(both[:1], first, atol=1e-6)
    assert not torch.allclose(both[1:], alone, atol=1e-4)
