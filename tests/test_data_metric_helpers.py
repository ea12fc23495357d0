"""Core helpers folded out of the plugins: PairedTransform's short_side mode, data_directory,
i2i.data.text, and the evaluator helpers (stack_samples, generate_in_chunks, fit_judge, judge_input)."""

from __future__ import annotations

import pickle
import random

import pytest
import torch
from PIL import Image

from i2i.data.folders import data_directory
from i2i.data.text import json_rows, read_name_list, read_text
from i2i.data.transforms import PairedTransform
from i2i.errors import InputError
from i2i.metrics.batches import generate_in_chunks, stack_samples
from i2i.metrics.judges import fit_judge, judge_input


def test_short_side_keeps_the_aspect_and_crops_the_same_way_as_a_plain_resize_crop():
    image = Image.effect_noise((60, 30), 50).convert("RGB")
    t = PairedTransform(38, 32, flip=True, resize_mode="short_side")
    out = t({"target": image}, random.Random(3))["target"]
    assert out.size == (32, 32)
    rng = random.Random(3)  # by hand: short side 30 -> 38 (76 x 38), crop, flip
    resized = image.resize((76, 38), Image.Resampling.BICUBIC)
    x, y = rng.randint(0, 76 - 32), rng.randint(0, 38 - 32)
    expected = resized.crop((x, y, x + 32, y + 32))
    if rng.random() < 0.5:
        expected = expected.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert out.tobytes() == expected.tobytes()
    centre = t({"target": image}, None)["target"]
    assert centre.tobytes() == resized.crop((22, 3, 54, 35)).tobytes()


def test_data_directory_and_text_files_fail_in_one_line(tmp_path):
    with pytest.raises(InputError, match="no such data directory"):
        data_directory(tmp_path / "absent")
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        data_directory(tmp_path / "f")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        read_text(tmp_path / "bad.txt")
    (tmp_path / "m.jsonl").write_text('{"file_name": "a.png"}\n\n{"file_name": 3}\n')
    with pytest.raises(InputError, match="line 3: expected an object with a 'file_name' string"):
        json_rows(tmp_path / "m.jsonl", "file_name")
    (tmp_path / "evil.pickle").write_bytes(pickle.dumps([Image.Image]))
    with pytest.raises(InputError, match="refuses to load the global"):
        read_name_list(tmp_path / "evil.pickle")
    (tmp_path / "ok.pickle").write_bytes(pickle.dumps(["a/b", b"c/d"], protocol=4))
    assert read_name_list(tmp_path / "ok.pickle") == ["a/b", "c/d"]


class _Pipe:
    def __init__(self):
        self.calls = []

    def generate(self, batch, num_samples=1, seed=None):
        self.calls.append((sorted(batch), len(batch["x"]), num_samples, seed))
        return torch.cat([batch["x"]] * num_samples)


def test_generate_in_chunks_slices_every_entry_but_the_target_and_seeds_per_chunk():
    data = [{"x": torch.full((1,), float(i)), "target": torch.zeros(1)} for i in range(5)]
    batch = stack_samples(data, 5)
    assert set(batch) == {"x", "target"} and batch["x"].shape == (5, 1)
    assert set(stack_samples(data, 2, ["x"])) == {"x"}
    pipe = _Pipe()
    out = generate_in_chunks(pipe, {**batch, "names": list("abcde")}, 2, seed=10)
    assert torch.equal(out, batch["x"])
    assert pipe.calls == [(["names", "x"], 2, 1, 10), (["names", "x"], 2, 1, 12), (["names", "x"], 1, 1, 14)]
    pipe = _Pipe()
    generate_in_chunks(pipe, batch, 4, seed=7, num_samples=2, seed_per_chunk=False)
    assert [c[2:] for c in pipe.calls] == [(2, 7), (2, 7)]


def test_fit_judge_is_seeded_and_learns():
    images = torch.randn(16, 3)
    labels = (images[:, 0] > 0).long()

    def train(seed):
        model = torch.nn.Linear(3, 2)
        torch.manual_seed(0)
        model.reset_parameters()

        def loss(step, rng):
            idx = torch.tensor([rng.randrange(16) for _ in range(8)])
            return torch.nn.functional.cross_entropy(model(images[idx]), labels[idx])

        return fit_judge(model, 200, loss, seed=seed, lr=0.05)

    a, b = train(1), train(1)
    assert not a.training
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert float((a(images).argmax(1) == labels).float().mean()) >= 0.9
    small = judge_input(torch.rand(2, 3, 40, 40), 16)
    assert small.shape == (2, 3, 16, 16)
    same = torch.rand(1, 3, 16, 16)
    assert judge_input(same, 16) is same
