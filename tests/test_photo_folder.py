"""The core's photo-folder dataset: split folders, the held-out hash split, name matching across
sub-folders, two-domain layouts, robust reading and one geometry for every entry of a sample."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.data.folders import (
    PhotoFolder,
    is_held_out,
    match_by_name,
    select_split,
    split_folder,
    split_names,
)
from i2i.data.images import list_images
from i2i.data.transforms import PairedTransform
from i2i.errors import InputError
from i2i.keys import DOMAIN_A, DOMAIN_B, TARGET


def _photo(path, size=(40, 32), seed=0, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def _names(ds: PhotoFolder) -> set[str]:
    return {ds.name(i) for i in range(len(ds))}


def test_split_folders_and_test_val_stand_in_for_each_other(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            _photo(tmp_path / split / f"{split}{i}.png", seed=i)
    train = PhotoFolder(tmp_path, "train")
    assert _names(train) == {"train0", "train1", "train2"} and train.folder == tmp_path / "train"
    # no test/ folder: test reads val/, and keeps all of it (no hash split inside a split folder)
    assert _names(PhotoFolder(tmp_path, "test")) == {"val0", "val1"}
    assert set(train[0]) == {TARGET} and train[0][TARGET].shape == (3, 32, 40)
    assert split_folder(tmp_path, "val") == (tmp_path / "val", None)


def test_without_split_folders_a_stable_hashed_tenth_is_held_out(tmp_path):
    for i in range(30):
        _photo(tmp_path / f"p{i:02d}.png", seed=i)
    train, test = PhotoFolder(tmp_path, "train"), PhotoFolder(tmp_path, "test")
    assert _names(train).isdisjoint(_names(test)) and len(_names(train) | _names(test)) == 30
    assert _names(test) == {f"p{i:02d}" for i in range(30) if is_held_out(f"p{i:02d}")}
    assert 1 <= len(test) <= 8
    _photo(tmp_path / "zz-new.png", seed=99)  # adding a photo never moves an existing one
    assert _names(test) <= _names(PhotoFolder(tmp_path, "test"))
    assert _names(train) <= _names(PhotoFolder(tmp_path, "train"))
    # a tiny folder whose names all hash to train still holds one out (the last)
    names = [n for n in (f"q{i}" for i in range(50)) if not is_held_out(n)][:3]
    assert select_split(names, True, str) == names[-1:] and select_split(names, False, str) == names[:-1]
    assert select_split(names[:1], True, str) == select_split(names[:1], False, str) == names[:1]


def test_recursive_listing_walks_albums_and_skips_hidden_folders(tmp_path):
    _photo(tmp_path / "b" / "x.png")
    _photo(tmp_path / "a" / "deep" / "y.jpg")
    _photo(tmp_path / "top.png")
    _photo(tmp_path / ".thumbs" / "t.png")
    (tmp_path / "a" / "notes.txt").write_text("no image")
    rel = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)]
    assert rel == ["a/deep/y.jpg", "b/x.png", "top.png"]
    assert [p.name for p in list_images(tmp_path)] == ["top.png"]
    both = PhotoFolder(tmp_path, "train", recursive=True)
    held = PhotoFolder(tmp_path, "test", recursive=True)
    assert len(both) + len(held) == 3 and len(held) == 1


def test_two_domain_layout_and_two_unrelated_folders(tmp_path):
    data = tmp_path / "horse2zebra"
    for split, domain, n in (("train", "A", 4), ("train", "B", 3), ("test", "A", 2), ("test", "B", 1)):
        for i in range(n):
            _photo(data / f"{split}{domain}" / f"{domain.lower()}{i}.png", seed=i)
    assert split_names("A")["train"] == ("trainA",) and split_names("B")["test"] == ("testB", "valB")
    a = PhotoFolder(data, "train", key=DOMAIN_A, splits=split_names("A"))
    b = PhotoFolder(data, "train", key=DOMAIN_B, splits=split_names("B"))
    assert (len(a), len(b)) == (4, 3) and set(a[0]) == {DOMAIN_A} and set(b[0]) == {DOMAIN_B}
    assert len(PhotoFolder(data, "test", splits=split_names("B"))) == 1
    assert len(PhotoFolder(data, "val", splits=split_names("A"))) == 2  # valA absent: testA
    # two unrelated folders of photos: each domain is a root without split folders
    for folder in ("day", "night"):
        for i in range(12):
            _photo(tmp_path / folder / f"{folder}{i}.png", seed=i)
    day = PhotoFolder(tmp_path / "day", "train", splits=split_names("A"))
    day_test = PhotoFolder(tmp_path / "day", "test", splits=split_names("A"))
    assert len(day) + len(day_test) == 12 and _names(day).isdisjoint(_names(day_test))
    (data / "testB").rename(data / "elsewhere")
    with pytest.raises(InputError, match=r"horse2zebra: has no 'test' split folder \(testB/, valB/\)"):
        PhotoFolder(data, "test", splits=split_names("B"))


def test_matched_folders_pair_by_name_with_optional_entries(tmp_path):
    split = tmp_path / "train"
    for i in range(3):
        _photo(split / "photos" / f"{i}.jpg", seed=i)
        _photo(split / "masks" / f"{i}.png", seed=10 + i, mode="L")
    _photo(split / "instances" / "1.png", mode="L")
    _photo(split / "instances" / "stray.png", mode="L")  # matches no sample: ignored
    ds = PhotoFolder(
        tmp_path,
        "train",
        folders={"input": "photos", "mask": "masks", "instances": "instances"},
        optional={"instances"},
        modes={"mask": "raw", "instances": "raw"},
    )
    assert len(ds) == 3 and ds.paths(1)["instances"] == split / "instances" / "1.png"
    assert ds.paths(0)["instances"] is None and set(ds[0]) == {"input", "mask"}
    sample = ds[1]
    assert set(sample) == {"input", "mask", "instances"} and sample["mask"].dtype == torch.int64
    assert torch.equal(
        sample["mask"][0], torch.from_numpy(np.array(Image.open(split / "masks" / "1.png"))).long()
    )
    # an optional folder that does not exist at all is fine
    assert len(PhotoFolder(tmp_path, "train", folders={"p": "photos", "i": "none"}, optional={"i"})) == 3
    _photo(split / "photos" / "lonely.jpg")
    with pytest.raises(InputError, match=r"lonely\.jpg: has no partner with the same name in masks/"):
        PhotoFolder(tmp_path, "train", folders={"input": "photos", "mask": "masks"})
    (split / "photos" / "lonely.jpg").unlink()
    _photo(split / "masks" / "0.jpg", mode="L")
    with pytest.raises(InputError, match=r"0\.png: has the same name as 0\.jpg"):
        match_by_name({"input": split / "photos", "mask": split / "masks"})


def test_one_geometry_for_every_entry_and_resumable_augmentation(tmp_path):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    labels = (photo[..., 0] // 64).astype(np.uint8)  # a label map that is a function of the photo
    (tmp_path / "train" / "img").mkdir(parents=True)
    (tmp_path / "train" / "lab").mkdir(parents=True)
    Image.fromarray(photo).save(tmp_path / "train" / "img" / "s.png")
    Image.fromarray(labels).save(tmp_path / "train" / "lab" / "s.png")
    ds = PhotoFolder(
        tmp_path,
        "train",
        folders={"photo": "img", "labels": "lab"},
        modes={"labels": "raw"},
        transform=PairedTransform(load_size=0, crop_size=24, resize_mode="crop"),
    )
    seen = set()
    for seed in range(12):
        sample = ds[(0, seed)]
        assert sample["photo"].shape == (3, 24, 24) and sample["labels"].shape == (1, 24, 24)
        red = ((sample["photo"][0] + 1) * 127.5).round().long()
        assert torch.equal(red // 64, sample["labels"][0])  # same crop and flip on both entries
        assert torch.equal(sample["photo"], ds[(0, seed)]["photo"])  # the key alone decides
        seen.add(sample["photo"].sum().item())
    assert len(seen) > 3  # the crop and flip do move with the seed
    centre = ds[0]  # no rng: centred, unflipped
    assert torch.equal(centre["photo"], ds.load(0, None)["photo"])
    assert torch.equal(ds[(0, 5)]["photo"], ds.load(0, random.Random(5))["photo"])


def test_bad_folders_are_one_line_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such data directory"):
        PhotoFolder(tmp_path / "nowhere")
    (tmp_path / "train").mkdir()
    with pytest.raises(InputError, match=r"train: no images for split 'train'"):
        PhotoFolder(tmp_path, "train")
    with pytest.raises(InputError, match="has no 'test' split folder"):
        PhotoFolder(tmp_path, "test")
    (tmp_path / "train" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ds = PhotoFolder(tmp_path, "train")
    with pytest.raises(InputError, match=r"broken\.png"):
        ds[0]
