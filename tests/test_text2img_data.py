"""text2img data: demo birds in the CUB layout, safe split pickles, CaptionDataset on CUB and jsonl."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.config import load_config
from i2i.errors import I2IError, InputError
from i2i.plugins import get_modality
from i2i_text2img.data import CaptionDataset, bbox_crop, read_name_list
from i2i_text2img.demo import BEAK_LENGTHS, COLOURS, PALETTE, held_out_indices, write_birds

N = 24


def _data(*sets: str):
    return load_config(get_modality("text2img"), sets=list(sets)).data


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    out = tmp_path_factory.mktemp("birds")
    counts = write_birds(out, n=N, seed=0, size=64)
    return out, counts


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_birds_is_deterministic_by_seed(birds, tmp_path):
    root, _ = birds
    write_birds(tmp_path / "same", n=N, seed=0, size=64)
    write_birds(tmp_path / "other", n=N, seed=1, size=64)
    a, b, c = _files(root), _files(tmp_path / "same"), _files(tmp_path / "other")
    assert a == b
    assert a.keys() == c.keys()
    jpgs = [k for k in a if k.endswith(".jpg")]
    assert all(a[k] != c[k] for k in jpgs)
    with pytest.raises(I2IError, match="at least"):
        write_birds(tmp_path / "tiny", n=3)


def test_cub_layout_is_complete_and_consistent(birds):
    root, counts = birds
    cub = root / "CUB_200_2011"
    assert counts == {"train": N - len(held_out_indices(N)), "test": len(held_out_indices(N))}
    assert counts["test"] >= 2
    images = [line.split() for line in (cub / "images.txt").read_text().splitlines()]
    boxes = [line.split() for line in (cub / "bounding_boxes.txt").read_text().splitlines()]
    assert [int(i) for i, _ in images] == list(range(1, N + 1)) == [int(b[0]) for b in boxes]
    train = read_name_list(root / "train" / "filenames.pickle")
    test = read_name_list(root / "test" / "filenames.pickle")
    assert len(train) == counts["train"] and len(test) == counts["test"]
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(path[: -len(".jpg")] for _, path in images)
    attrs = [json.loads(line) for line in (root / "attributes.jsonl").read_text().splitlines()]
    assert [a["file"] for a in attrs] == [path[: -len(".jpg")] for _, path in images]
    assert {(a["body"], a["beak_length"]) for a in attrs} == {(c, b) for c in COLOURS for b in BEAK_LENGTHS}
    for (_, path), box, a in zip(images, boxes, attrs):
        img = Image.open(cub / "images" / path)
        assert img.format == "JPEG" and img.size == (64, 64)
        x, y, w, h = map(float, box[1:])
        assert x >= 0 and y >= 0 and x + w <= 64 and y + h <= 64 and w > 8 and h > 8
        assert path.split("/")[0].endswith(f".{a['body']}_bird")
        assert a["split"] == ("test" if a["file"] in test else "train")
        for key in ("wing", "crown", "beak_colour"):
            assert a[key] in PALETTE
        lines = (root / "text" / f"{a['file']}.txt").read_text().splitlines()
        assert len(lines) == 10 and len(set(lines)) >= 8
        assert sum(a["body"] in line for line in lines) >= 8
        assert not any("left" in line or "right" in line for line in lines)  # flips keep them true
        assert not any(" a a" in f" {line}" or " a o" in f" {line}" for line in lines)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "filenames.pickle"
    bad.write_bytes(pickle.dumps(["001.a/b", Evil()], protocol=2))
    with pytest.raises(InputError, match="filenames.pickle") as info:
        read_name_list(bad)
    assert "os" in str(info.value) or "posix" in str(info.value)
    assert not marker.exists()
    for value in ({"a": 1}, ["ok", 3], "x"):
        bad.write_bytes(pickle.dumps(value, protocol=2))
        with pytest.raises(InputError, match="filenames.pickle"):
            read_name_list(bad)
    bad.write_bytes(b"\x80\x02]q\x00(X")  # truncated
    with pytest.raises(InputError, match="filenames.pickle"):
        read_name_list(bad)
    # as Python 2 wrote them (AttnGAN's pickles): a str is SHORT_BINSTRING, a unicode BINUNICODE
    bad.write_bytes(b"\x80\x02]q\x00(U\x07001.a/bq\x01X\x07\x00\x00\x00001.a/cq\x02e.")
    assert read_name_list(bad) == ["001.a/b", "001.a/c"]


def test_cub_dataset_samples(birds):
    root, counts = birds
    train = CaptionDataset(root, _data(), "train", True)
    test = CaptionDataset(root, _data(), "test", False)
    assert train.layout == "cub" and (len(train), len(test)) == (counts["train"], counts["test"])
    sample = train[(0, 7)]
    assert sample["target"].shape == (3, 64, 64) and sample["target"].dtype == torch.float32
    assert sample["target"].min() >= -1.0 and sample["target"].max() <= 1.0
    assert sample["caption"] in train.captions(0)
    fixed = test[0]
    assert fixed["caption"] == test.captions(0)[0]
    assert torch.equal(fixed["target"], test[0]["target"])
    small = CaptionDataset(root, _data("data.image_size=32"), "test", False)[0]
    assert small["target"].shape == (3, 32, 32)
    attrs = train.attributes()
    assert attrs is not None and len(attrs) == len(train)
    assert [a["file"] for a in attrs] == [key for key, *_ in train.items]
    assert all(a["body"] in " ".join(train.captions(i)) for i, a in enumerate(attrs))
    batch = torch.utils.data.default_collate([train[(i, i)] for i in range(3)])
    assert batch["target"].shape == (3, 3, 64, 64) and len(batch["caption"]) == 3


def test_random_choices_come_only_from_the_key(birds):
    root, _ = birds
    ds = CaptionDataset(root, _data(), "train", True)
    a, b = ds[(3, 11)], ds[(3, 11)]
    assert torch.equal(a["target"], b["target"]) and a["caption"] == b["caption"]
    variants = {(ds[(3, s)]["target"].sum().item(), ds[(3, s)]["caption"]) for s in range(12)}
    assert len(variants) > 3
    # without jitter a square box crop leaves the flip as the only geometric choice
    flips = CaptionDataset(root, _data("data.jitter=false"), "train", True)
    i = next(i for i, (_, path, _, box) in enumerate(flips.items) if _square_crop(path, box))
    centre = CaptionDataset(root, _data("data.jitter=false"), "train", False)[i]["target"]
    same = [torch.equal(flips[(i, s)]["target"], centre) for s in range(16)]
    mirrored = [torch.equal(flips[(i, s)]["target"], centre.flip(-1)) for s in range(16)]
    assert all(a != b for a, b in zip(same, mirrored)) and any(same) and any(mirrored)
    still = CaptionDataset(root, _data("data.jitter=false", "data.flip=false"), "train", True)
    assert all(torch.equal(still[(i, s)]["target"], centre) for s in range(4))


def _square_crop(path, box):
    w, h = bbox_crop(Image.open(path), box, 1.5).size
    return w == h


def _tiny_cub(root, boxes, size=(200, 120)):
    """A hand-made CUB folder: grey pictures, each with a red "bird" exactly filling its box."""
    cub = root / "CUB_200_2011"
    (cub / "images" / "001.red").mkdir(parents=True)
    (root / "text" / "001.red").mkdir(parents=True)
    names = []
    for i, (x, y, w, h) in enumerate(boxes):
        img = np.full((size[1], size[0], 3), 128, np.uint8)
        img[y : y + h, x : x + w] = (255, 0, 0)
        name = f"001.red/red_{i}"
        Image.fromarray(img).save(cub / "images" / f"{name}.jpg", quality=95, subsampling=0)
        (root / "text" / f"{name}.txt").write_text("a red bird\nthis bird is red\n")
        names.append(name)
    (cub / "images.txt").write_text("".join(f"{i + 1} {n}.jpg\n" for i, n in enumerate(names)))
    (cub / "bounding_boxes.txt").write_text(
        "".join(f"{i + 1} {x}.0 {y}.0 {w}.0 {h}.0\n" for i, (x, y, w, h) in enumerate(boxes))
    )
    for split in ("train", "test"):
        (root / split).mkdir()
        (root / split / "filenames.pickle").write_bytes(pickle.dumps(names, protocol=2))


def _red(t):
    """(share of red pixels, their centroid (row, col)) of a (3,S,S) sample."""
    mask = (t[0] > 0.6) & (t[1] < -0.6) & (t[2] < -0.6)
    rows, cols = torch.nonzero(mask, as_tuple=True)
    return mask.float().mean().item(), (rows.float().mean().item(), cols.float().mean().item())


def test_crop_follows_the_bird_box(tmp_path):
    # box 40x30 inside the picture: a 60x60 crop around its centre, the bird 1/3 of it, centred;
    # box 30x30 at the corner: the 45x45 crop is clamped to 37x37, the bird at its top left
    _tiny_cub(tmp_path, [(120, 20, 40, 30), (0, 0, 30, 30)])
    ds = CaptionDataset(tmp_path, _data("data.jitter=false"), "test", False)
    share, (r, c) = _red(ds[0]["target"])
    assert abs(share - 1200 / 3600) < 0.04 and abs(r - 31.5) < 1.5 and abs(c - 31.5) < 1.5
    share, (r, c) = _red(ds[1]["target"])
    assert abs(share - 900 / 37**2) < 0.05 and r < 28 and c < 28
    whole = CaptionDataset(tmp_path, _data("data.jitter=false", "data.bbox_crop=0"), "test", False)
    assert _red(whole[0]["target"])[0] < 0.5 * _red(ds[0]["target"])[0]
    # the training crop is a random 64 of 76 around the same box: the bird stays near the middle
    train = CaptionDataset(tmp_path, _data(), "train", True)
    for seed in range(4):
        share, (r, c) = _red(train[(0, seed)]["target"])
        assert abs(share - 1200 / 3600 * (76 / 64) ** 2) < 0.06 and abs(r - 31.5) < 7 and abs(c - 31.5) < 7
    img = Image.new("RGB", (100, 80))
    assert bbox_crop(img, (40, 30, 20, 10), 1.5).size == (30, 30)
    assert bbox_crop(img, (0, 0, 40, 40), 1.5).size == (50, 50)  # clamped at the corner


def test_demo_boxes_are_the_birds(birds):
    root, _ = birds
    ds = CaptionDataset(root, _data("data.jitter=false"), "train", False)
    for (_, path, _, box), attrs in zip(ds.items, ds.attributes()):
        assert box == tuple(attrs["bbox"])
        img = np.asarray(Image.open(path), dtype=np.float32)
        body = np.array(PALETTE[attrs["body"]], np.float32)
        match = np.abs(img - body).max(-1) < 24  # pixels of the body colour
        x, y, w, h = box
        inside = np.zeros_like(match)
        inside[int(y) : int(np.ceil(y + h)), int(x) : int(np.ceil(x + w))] = True
        # the body colour is dense inside the box (the background may share it, thinly)
        assert match[inside].mean() > 0.04 and match[inside].mean() > 4 * match[~inside].mean()


def _imagefolder(root, rows, name="metadata.jsonl"):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = []
    for row in rows:
        if isinstance(row, dict):
            Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)).save(root / row["file_name"])
            lines.append(json.dumps(row))
        else:
            lines.append(row)
    (root / name).write_text("\n".join(lines) + "\n")


def test_jsonl_layout(tmp_path):
    rows = [{"file_name": f"im{i}.png", "text": [f"caption {i} a", f"caption {i} b"]} for i in range(12)]
    rows[0] = {"file_name": "im0.png", "text": "only one caption"}
    _imagefolder(tmp_path / "flat", rows)
    train = CaptionDataset(tmp_path / "flat", _data(), "train", True)
    test = CaptionDataset(tmp_path / "flat", _data(), "test", False)
    assert train.layout == "jsonl" and len(train) + len(test) == 12 and len(test) >= 1
    assert not {k for k, *_ in train.items} & {k for k, *_ in test.items}
    s = train[(0, 1)]
    assert s["target"].shape == (3, 64, 64) and s["target"].min() >= -1 and s["target"].max() <= 1
    assert s["caption"] in train.captions(0)
    assert train.attributes() is None
    # split folders
    _imagefolder(tmp_path / "split" / "train", rows[:8])
    _imagefolder(tmp_path / "split" / "validation", rows[8:])
    assert len(CaptionDataset(tmp_path / "split", _data(), "train", True)) == 8
    assert len(CaptionDataset(tmp_path / "split", _data(), "test", False)) == 4


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"text": "no file"}', "line 2: expected an object"),
        ('{"file_name": "im0.png", "text": 3}', "line 2: 'text' must be"),
        ('{"file_name": "../im0.png", "text": "x"}', "line 2: '../im0.png' is not a path inside"),
    ],
)
def test_jsonl_bad_lines_name_file_and_line(tmp_path, line, problem):
    _imagefolder(tmp_path, [{"file_name": "im0.png", "text": "fine"}, line])
    with pytest.raises(InputError, match="metadata.jsonl") as info:
        CaptionDataset(tmp_path, _data(), "train", True)
    assert problem in str(info.value)


def test_bad_files_name_the_file(birds, tmp_path):
    root, _ = birds
    _imagefolder(tmp_path / "hf", [{"file_name": "missing.png", "text": "x"}])
    (tmp_path / "hf" / "missing.png").unlink()
    with pytest.raises(InputError, match="missing.png"):
        CaptionDataset(tmp_path / "hf", _data(), "train", True)
    with pytest.raises(InputError, match="found neither"):
        CaptionDataset(tmp_path, _data(), "train", True)
    # a copy of the CUB set with one caption file and one image missing, one image corrupt
    copy = tmp_path / "cub"
    shutil.copytree(root, copy)
    name = read_name_list(copy / "test" / "filenames.pickle")[0]
    (copy / "text" / f"{name}.txt").unlink()
    with pytest.raises(InputError, match=f"{name}.txt"):
        CaptionDataset(copy, _data(), "test", False)
    shutil.copy(root / "text" / f"{name}.txt", copy / "text" / f"{name}.txt")
    (copy / "CUB_200_2011" / "images" / f"{name}.jpg").unlink()
    with pytest.raises(InputError, match=f"{name}.jpg"):
        CaptionDataset(copy, _data(), "test", False)
    (copy / "CUB_200_2011" / "images" / f"{name}.jpg").write_bytes(b"not a jpeg at all")
    ds = CaptionDataset(copy, _data(), "test", False)
    with pytest.raises(InputError, match=f"{name}.jpg"):
        ds[0]
    (copy / "test" / "filenames.pickle").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(InputError, match="filenames.pickle"):
        CaptionDataset(copy, _data(), "test", False)
    (copy / "CUB_200_2011" / "bounding_boxes.txt").write_text("1 2 3\n")
    with pytest.raises(InputError, match="bounding_boxes.txt"):
        CaptionDataset(copy, _data(), "train", True)


def test_cub_without_split_pickles_holds_out_a_stable_tenth(birds, tmp_path):
    root, _ = birds
    copy = tmp_path / "cub"
    shutil.copytree(root, copy)
    for split in ("train", "test"):
        (copy / split / "filenames.pickle").unlink()
    train = CaptionDataset(copy, _data(), "train", True)
    test = CaptionDataset(copy, _data(), "test", False)
    assert len(train) + len(test) == N and 1 <= len(test) < N // 2
    again = CaptionDataset(copy, _data(), "test", False)
    assert [k for k, *_ in test.items] == [k for k, *_ in again.items]
    # with only the training pickle, test is the rest
    (copy / "train" / "filenames.pickle").write_bytes(
        pickle.dumps([k for k, *_ in train.items][:-2], protocol=2)
    )
    assert len(CaptionDataset(copy, _data(), "test", False)) == len(test) + 2
