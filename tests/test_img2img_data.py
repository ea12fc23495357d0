"""img2img data: demo set, the aligned/pairs/photos layouts, derived inputs, splits, conditioner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.config import load_config
from i2i.errors import ConfigError, I2IError, InputError
from i2i.plugins import get_modality
from i2i_img2img.conditioner import Img2ImgConditioner, to_channels
from i2i_img2img.data import Img2ImgDataset
from i2i_img2img.demo import CLASSES, split_sizes, write_demo


def _data(*sets: str):
    return load_config(get_modality("img2img"), sets=list(sets)).data


def _photo(path, size=(64, 48), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_demo_is_deterministic_aligned_and_split(tmp_path):
    counts = write_demo(tmp_path / "a", n=12, seed=3, size=32)
    write_demo(tmp_path / "b", n=12, seed=3, size=32)
    write_demo(tmp_path / "c", n=12, seed=4, size=32)
    assert counts == split_sizes(12) and sum(counts.values()) == 12
    for split, count in counts.items():
        files = sorted((tmp_path / "a" / split).glob("*.png"))
        assert len(files) == count
    first = (tmp_path / "a" / "train" / "0000.png").read_bytes()
    assert first == (tmp_path / "b" / "train" / "0000.png").read_bytes()
    assert first != (tmp_path / "c" / "train" / "0000.png").read_bytes()
    ab = np.asarray(Image.open(tmp_path / "a" / "train" / "0000.png"))
    assert ab.shape == (32, 64, 3)
    palette = {tuple(c) for _, c in CLASSES}
    assert {tuple(p) for p in ab[:, :32].reshape(-1, 3)} <= palette  # A holds label colours only
    meta = json.loads((tmp_path / "a" / "classes.json").read_text())
    assert [c["name"] for c in meta["classes"]] == [name for name, _ in CLASSES]
    with pytest.raises(I2IError, match="at least"):
        write_demo(tmp_path / "d", n=2)


def test_aligned_layout_crops_pairs_together_and_direction_swaps(demo_data):
    data = _data("data.load_size=72", "data.crop_size=64")
    ds = Img2ImgDataset(demo_data, data, "train", True)
    sample = ds[0]
    assert sample["input"].shape == sample["target"].shape == (3, 64, 64)
    # the input is the label half: every pixel is (close to) a palette colour; the photo is not
    palette = torch.tensor([c for _, c in CLASSES], dtype=torch.float32) / 127.5 - 1
    exact = Img2ImgDataset(demo_data, _data("data.resize_mode=none", "data.flip=false"), "train", False)[0]
    pixels = exact["input"].permute(1, 2, 0).reshape(-1, 1, 3)
    assert (pixels - palette).abs().amax(-1).amin(-1).max() < 1e-5
    swapped = Img2ImgDataset(
        demo_data, _data("data.resize_mode=none", "data.direction=BtoA"), "train", False
    )[0]
    assert torch.equal(swapped["input"], exact["target"]) and torch.equal(swapped["target"], exact["input"])
    # augmentation comes only from the key: the same key repeats, another seed moves the crop
    assert torch.equal(ds[(0, 7)]["target"], ds[(0, 7)]["target"])
    assert any(not torch.equal(ds[(0, 7)]["target"], ds[(0, s)]["target"]) for s in range(8, 12))


def test_pairs_layout_and_a_lone_file_is_named(tmp_path):
    for part in ("A", "B"):
        (tmp_path / "train" / part).mkdir(parents=True)
        for i in range(3):
            _photo(tmp_path / "train" / part / f"{i}.png", seed=i + (10 if part == "B" else 0))
    ds = Img2ImgDataset(tmp_path, _data("data.resize_mode=none", "data.flip=false"), "train", False)
    assert ds.layout == "pairs" and len(ds) == 3
    sample = ds[1]
    a = np.asarray(Image.open(tmp_path / "train" / "A" / "1.png"), dtype=np.float32) / 127.5 - 1
    assert torch.allclose(sample["input"], torch.from_numpy(a).permute(2, 0, 1))
    _photo(tmp_path / "train" / "A" / "lonely.png")
    with pytest.raises(InputError, match=r"lonely\.png.*no partner"):
        Img2ImgDataset(tmp_path, _data(), "train", False)


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(20):
        _photo(folder / f"p{i:02d}.png", size=(64, 48), seed=i)
    return folder


def test_photo_folder_without_splits_holds_out_a_stable_tenth(photos):
    data = _data("data.task=sr", "data.crop_size=32", "data.resize_mode=crop")
    train = Img2ImgDataset(photos, data, "train", True)
    test = Img2ImgDataset(photos, data, "test", False)
    names = lambda ds: {p.name for p, _ in ds.items}  # noqa: E731
    assert names(train).isdisjoint(names(test)) and len(names(train) | names(test)) == 20
    assert 1 <= len(test) <= 5
    _photo(photos / "zz-new.png", seed=99)  # adding a photo never moves an existing one
    again = Img2ImgDataset(photos, data, "test", False)
    assert names(test) <= names(again)


def test_derived_inputs_sr_colorize_edges(photos):
    sr = Img2ImgDataset(
        photos, _data("data.task=sr", "data.crop_size=32", "data.resize_mode=crop"), "train", True
    )
    sample = sr[(0, 1)]
    assert sample["target"].shape == (3, 32, 32) and sample["input"].shape == (3, 8, 8)
    down = torch.nn.functional.interpolate(sample["target"][None], scale_factor=0.25, mode="area")[0]
    assert (sample["input"] - down).abs().mean() < 0.15  # the input is the target, downsampled

    gray = _data("data.task=colorize", "data.input_channels=1", "data.crop_size=32", "data.resize_mode=crop")
    sample = Img2ImgDataset(photos, gray, "train", True)[(0, 1)]
    assert sample["input"].shape == (1, 32, 32)
    assert (sample["input"] - to_channels(sample["target"], 1)).abs().max() < 2.5 / 127.5

    edges = _data("data.task=edges", "data.crop_size=32", "data.resize_mode=crop")
    sample = Img2ImgDataset(photos, edges, "train", True)[(0, 1)]
    assert sample["input"].shape == (3, 32, 32)
    assert set(sample["input"].unique().tolist()) <= {-1.0, 1.0} and (sample["input"] == -1).any()


def test_bad_settings_and_missing_data_are_clear_errors(tmp_path, photos):
    with pytest.raises(ConfigError, match="data.task"):
        Img2ImgDataset(photos, _data("data.task=paint"), "train", True)
    with pytest.raises(InputError, match="no such data directory"):
        Img2ImgDataset(tmp_path / "nowhere", _data(), "train", True)
    (tmp_path / "split" / "train").mkdir(parents=True)
    _photo(tmp_path / "split" / "train" / "a.png")
    with pytest.raises(InputError, match="no 'test' split"):
        Img2ImgDataset(tmp_path / "split", _data("data.task=sr"), "test", False)


def test_conditioner_matches_the_channels_the_model_was_trained_with():
    rgb = torch.rand(3, 5, 7) * 2 - 1
    pil = Image.fromarray(((rgb.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).convert("L")
    luma = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 127.5 - 1)
    assert (to_channels(rgb, 1)[0] - luma).abs().max() < 1.5 / 127.5  # PIL's convert("L") weights
    colorize = Img2ImgConditioner(task="colorize", input_channels=1)
    prepared = colorize.prepare({"input": rgb})
    assert prepared["input"].shape == (1, 5, 7)
    assert Img2ImgConditioner()({"input": torch.zeros(2, 1, 4, 4)}).maps.shape == (2, 3, 4, 4)
