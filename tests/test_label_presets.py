"""Label conventions of published data sets (Cityscapes, ADE20K, COCO-Stuff): class lists, colours,
index-map values and don't care; index and colour-coded maps give the same ids, bad values are one
line naming the file, and an imported SPADE checkpoint of such a data set picks its convention."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.data.images import read_labels
from i2i.errors import InputError
from i2i_seg2img.conditioner import SegConditioner
from i2i_seg2img.labels import PRESETS, preset, read_classes, to_ids


def test_presets_hold_the_published_lists() -> None:
    cityscapes, ade, coco = (preset(n) for n in PRESETS)
    assert (len(cityscapes), len(ade), len(coco)) == (35, 150, 182)
    # cityscapesScripts labels.py: id, name, colour
    assert (cityscapes.names[7], cityscapes.colors[7]) == ("road", (128, 64, 128))
    assert (cityscapes.names[26], cityscapes.colors[26]) == ("car", (0, 0, 142))
    assert (cityscapes.names[33], cityscapes.colors[33]) == ("bicycle", (119, 11, 32))
    assert cityscapes.names[34] == "license plate" and cityscapes.index_lookup() is None
    # ADE20K: class i is stored as i + 1, 0 is "other" (don't care)
    assert (ade.names[0], ade.colors[0], ade.names[149]) == ("wall", (120, 120, 120), "flag")
    assert ade.index_values[:3] == (1, 2, 3) and ade.dontcare_values == (0,)
    # COCO-Stuff: PNG values 0..181 are labels.txt ids 1..182, 255 unlabeled
    assert (coco.names[0], coco.names[91], coco.names[181]) == ("person", "banner", "wood")
    assert coco.dontcare_values == (255,) and len(set(coco.colors)) == 182


def _save(array: np.ndarray, path: Path) -> Path:
    Image.fromarray(array).save(path)
    return path


@pytest.mark.parametrize("name", PRESETS)
def test_index_and_colour_maps_give_the_same_ids(name: str, tmp_path: Path) -> None:
    classes = preset(name)
    rng = np.random.default_rng(0)
    unique = [i for i, c in enumerate(classes.colors) if classes.colors.index(c) == i]  # first of a colour
    ids = rng.choice(unique, size=(6, 9))
    values = np.array(classes.index_values)[ids] if classes.index_values else ids
    index_map = _save(values.astype(np.uint8), tmp_path / "index.png")
    colour_map = _save(np.array(classes.colors, np.uint8)[ids], tmp_path / "colour.png")
    palette = torch.tensor(classes.colors)
    for path in (index_map, colour_map):
        got = to_ids(read_labels(path), len(classes), palette, where=path, classes=classes)
        assert torch.equal(got, torch.from_numpy(ids).long()), path.name


def test_dont_care_values_and_colours_become_the_ignore_index(tmp_path: Path) -> None:
    ade, coco = preset("ade20k"), preset("cocostuff")
    raw = torch.tensor([[[0, 1, 150]]])
    assert to_ids(raw, 150, None, classes=ade).tolist() == [[255, 0, 149]]
    assert to_ids(torch.tensor([[[0, 181, 255]]]), 182, None, classes=coco).tolist() == [[0, 181, 255]]
    black_and_wall = torch.tensor([[0, 120], [0, 120], [0, 120]]).reshape(3, 1, 2)
    assert to_ids(black_and_wall, 150, torch.tensor(ade.colors), classes=ade).tolist() == [[255, 0]]


def test_values_outside_a_convention_name_the_file(tmp_path: Path) -> None:
    bad = _save(np.array([[7, 40]], np.uint8), tmp_path / "city.png")
    with pytest.raises(InputError, match=r"city\.png: class id 40 at \(x=1, y=0\) is out of range 0\.\.34"):
        to_ids(read_labels(bad), 35, None, where=bad, classes=preset("cityscapes"))
    bad = _save(np.array([[3, 151]], np.uint8), tmp_path / "ade.png")
    with pytest.raises(InputError, match=r"ade\.png: value 151 at \(x=1, y=0\) is not a ade20k class"):
        to_ids(read_labels(bad), 150, None, where=bad, classes=preset("ade20k"))
    bad = _save(np.array([[200]], np.uint8), tmp_path / "coco.png")
    with pytest.raises(InputError, match=r"coco\.png: value 200 .* not a cocostuff class"):
        to_ids(read_labels(bad), 182, None, where=bad, classes=preset("cocostuff"))


def test_classes_json_may_name_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "classes.json"
    path.write_text(json.dumps({"preset": "ade20k"}))
    assert read_classes(path) is preset("ade20k")
    path.write_text(json.dumps({"preset": "kitti"}))
    with pytest.raises(
        InputError, match=r"classes\.json: expected \{\"preset\": NAME\} with NAME one of cityscapes"
    ):
        read_classes(path)
    path.write_text(
        json.dumps({"classes": [{"id": 0, "name": "a", "color": [1, 2, 3]}], "index_values": [0, 1]})
    )
    with pytest.raises(InputError, match="index_values must list 1 distinct integers"):
        read_classes(path)


def test_the_conditioner_reads_a_presets_maps_into_spades_input(tmp_path: Path) -> None:
    """ADE20K as the original SPADE reads it: value 0 -> the don't-care channel 150, v -> v - 1."""
    cond = SegConditioner(
        150, style_dim=0, dontcare_channel=True, edge_channel=False, classes="ade20k"
    ).eval()
    raw = read_labels(_save(np.array([[0, 1], [150, 0]], np.uint8), tmp_path / "ade.png"))
    maps = cond(torch.utils.data.default_collate([cond.prepare({"labels": raw})])).maps
    assert maps.shape == (1, 151, 2, 2) and maps.sum(1).eq(1).all()
    assert maps[0, 150].tolist() == [[1, 0], [0, 1]] and maps[0, 0, 0, 1] == 1 and maps[0, 149, 1, 0] == 1
    with pytest.raises(Exception, match="preset 'ade20k' has 150 classes, not num_classes 35"):
        SegConditioner(35, classes="ade20k")


def test_a_data_set_with_a_preset_class_list(tmp_path: Path) -> None:
    from i2i_seg2img.data import SegDataset

    root = tmp_path / "cityscapes"
    (root / "train" / "labels").mkdir(parents=True)
    (root / "train" / "images").mkdir(parents=True)
    (root / "classes.json").write_text(json.dumps({"preset": "cityscapes"}))
    ids = np.array([[7, 7, 26, 26], [23, 23, 0, 33]] * 2, np.uint8)
    colours = np.array(preset("cityscapes").colors, np.uint8)[ids]
    _save(
        np.dstack([colours, np.full(ids.shape, 255, np.uint8)]), root / "train" / "labels" / "a.png"
    )  # RGBA
    _save(ids, root / "train" / "labels" / "b.png")
    for stem in "ab":
        _save(np.zeros((4, 4, 3), np.uint8), root / "train" / "images" / f"{stem}.png")
    data = {"num_classes": 35, "load_size": 4, "crop_size": 4, "flip": False, "resize_mode": "none"}
    dataset = SegDataset(root, data, "train", train=False)
    assert torch.equal(dataset[0]["labels"], dataset[1]["labels"])
    assert dataset[0]["labels"].tolist()[0] == [7, 7, 26, 26]


# ---- an imported published checkpoint picks its data set's convention ----------------------------
def _original_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """i2i's spade_nvlabs keys -> the original's (spectral norm's hook names)."""
    names = {"parametrizations.weight.original": "weight_orig", "parametrizations.weight.0._u": "weight_u",
             "parametrizations.weight.0._v": "weight_v"}  # fmt: skip
    out = {}
    for key, value in state.items():
        key = key.removeprefix("net.")
        for new, old in names.items():
            key = key.replace(new, old)
        out[key] = value
    return out


def test_a_cityscapes_checkpoint_without_opt_txt_reads_cityscapes_colour_maps(tmp_path: Path, capsys) -> None:
    """36 input channels and no opt.txt: the published Cityscapes settings are assumed (one line
    says so), and a gtFine colour map works as well as a labelIds map."""
    from i2i.pipeline import load_pipeline
    from i2i_seg2img.spade_nvlabs import spade_nvlabs

    net = spade_nvlabs(36, ngf=1, num_upsampling_layers="more", crop_size=512, aspect_ratio=2.0, hidden=2)
    torch.save(_original_keys(net.state_dict()), tmp_path / "latest_net_G.pth")
    pipe = load_pipeline(tmp_path / "latest_net_G.pth", plugin="seg2img", device="cpu")
    notice = capsys.readouterr().err
    assert (
        "opt.txt: not found" in notice
        and "assumed more, 512, 2, label_nc 35 + instance (cityscapes)" in notice
    )
    assert pipe.config.model.conditioner.classes == "cityscapes"
    ids = np.array([[7, 26], [23, 33]], np.uint8).repeat(64, 0).repeat(128, 1)
    colours = np.array(preset("cityscapes").colors, np.uint8)[ids]
    from_ids = pipe.prepare({"labels": read_labels(_save(ids, tmp_path / "labelIds.png"))})
    from_colours = pipe.prepare({"labels": read_labels(_save(colours, tmp_path / "color.png"))})
    assert from_ids["labels"].shape == (256, 512)  # resized to the original's 512 x 256
    assert torch.equal(from_ids["labels"], from_colours["labels"])
