"""Every reader of user files, fed thousands of malformed inputs (hypothesis): each one either gives
a valid result or raises the one-line, file-naming I2IError that the CLI prints with exit status 2.
Any other exception (a traceback for the user) or a slow example (a hang) fails the test.

Inputs are random bytes, random JSON/YAML documents, documents shaped like the real format with
wrong values, and valid files cut short or with bytes flipped. Image bytes are fuzzed in
test_images.py; label maps here go through the same decoder plus the label conversion.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from i2i.config import load_config
from i2i.data.images import read_labels
from i2i.data.text import read_lines
from i2i.data.video import iter_video_frames, probe_video
from i2i.errors import I2IError
from i2i.plugins import get_modality
from i2i_face2img.landmarks import read_landmark_frames, read_landmarks_json
from i2i_pose2img.data import read_pairs
from i2i_pose2img.keypoints import MISSING, read_deepfashion_csv, read_pose_json
from i2i_seg2img.labels import read_classes
from i2i_text2img.conditioner import MAX_PROMPTS, MAX_PROMPTS_BYTES
from i2i_text2img.data import _read_captions, json_rows, read_boxes, read_image_list, read_name_list

# Per reader: 11 readers, 3300 inputs in all. CI draws the same inputs every run (derandomize), so
# a red run is a real regression; I2I_FUZZ_EXAMPLES=5000 I2I_FUZZ_RANDOM=1 explores further.
EXAMPLES = int(os.environ.get("I2I_FUZZ_EXAMPLES", "300"))
DERANDOMIZE = os.environ.get("I2I_FUZZ_RANDOM", "") != "1"
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=DERANDOMIZE,
    # No deadline: on a loaded CI machine a timing limit fails at random; what hangs is caught by
    # the bounds the hostile strategies below aim at (nesting, digits, sizes), not by a stopwatch.
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=40,
)
numbers = st.integers(-(2**40), 2**40) | st.floats() | st.sampled_from([1e39, -1e39, 1e308, 0.0, -1.0])
number_like = numbers | st.none() | st.booleans() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)


def _mutated(valid: bytes) -> st.SearchStrategy[bytes]:
    """A valid file cut at a random place, or with a few bytes overwritten."""

    @st.composite
    def mutate(draw: Any) -> bytes:
        data = bytearray(valid)
        if draw(st.booleans()):
            return bytes(data[: draw(st.integers(0, len(data)))])
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)

    return mutate()


def _json_text(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return values.map(lambda v: json.dumps(v, allow_nan=True).encode())


def _check(path: Path, content: bytes, read: Callable[[Path], Any], valid: Callable[[Any], bool]) -> None:
    path.write_bytes(content)
    try:
        result = read(path)
    except I2IError as exc:
        message = str(exc)
        assert "\n" not in message and message.strip(), repr(message)
        assert path.name in message or "config" in message, message
        return
    assert valid(result), (content[:200], result)


# ---- what each reader must return when it does not refuse -----------------------------------------
def _points_ok(n: int) -> Callable[[Any], bool]:
    return lambda p: isinstance(p, np.ndarray) and p.shape == (n, 2) and np.isfinite(p).all()


def _pose_ok(p: Any) -> bool:
    return _points_ok(18)(p) and ((p >= 0) | (p == MISSING)).all()


def _frames_ok(frames: Any) -> bool:
    return isinstance(frames, dict) and all(v is None or _points_ok(68)(v) for v in frames.values())


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) for s in value)


# ---- valid examples, to mutate ----------------------------------------------------------------------
LANDMARKS = json.dumps([[10.0 + i, 20.0 + i / 2] for i in range(68)]).encode()
FRAMES = json.dumps(
    {"version": 1, "size": [64, 64], "frames": {"0000.png": json.loads(LANDMARKS), "0001.png": None}}
).encode()
OPENPOSE = json.dumps(
    {"people": [{"pose_keypoints_2d": [float(v) for i in range(25) for v in (i, 2 * i, 0.9)]}]}
).encode()
COCO = json.dumps({"keypoints": [float(v) for i in range(17) for v in (3 * i, i, 2)]}).encode()
COCO_ANNOTATIONS = json.dumps(
    {"annotations": [{"num_keypoints": 17, "keypoints": [v for i in range(17) for v in (3 * i, i, 2)]}]}
).encode()
DEEPFASHION = (
    f"name:keypoints_y:keypoints_x\na.jpg: {json.dumps(list(range(18)))}: {json.dumps([-1, *range(17)])}\n"
).encode()
CLASSES = json.dumps(
    {
        "classes": [
            {"id": 0, "name": "sky", "color": [0, 0, 255]},
            {"id": 1, "name": "road", "color": [9, 9, 9]},
        ],
        "ignore_index": 255,
    }
).encode()
CAPTIONS = b"a red bird with a short beak\nthis bird is blue\n"
METADATA = b'{"file_name": "a.png", "text": "a bird"}\n{"file_name": "b.png", "text": "two birds"}\n'
NAMES = pickle.dumps(["001.Black_footed_Albatross/a", "002.Laysan_Albatross/b"], protocol=2)
CONFIG = yaml.safe_dump(
    {"train": {"steps": 10, "batch_size": 2}, "loss": {"l1": 100.0}, "data": {"crop_size": 32}}
).encode()


def _png(mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) % 5, mode="L").convert(mode).save(buf, "PNG")
    return buf.getvalue()


def _config(path: Path) -> Any:
    return load_config(get_modality("img2img"), path)


def _labels(path: Path) -> Any:
    return read_labels(path)


config_docs = st.dictionaries(
    st.sampled_from(["train", "loss", "data", "model", "optim", "ema", "seed", "plugin", "device", "x"]),
    json_values
    | st.dictionaries(
        st.sampled_from(["steps", "batch_size", "l1", "gan", "crop_size", "lr_g", "y"]), json_values
    ),
    max_size=5,
).map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode())

CASES: dict[str, tuple[Callable[[Path], Any], Callable[[Any], bool], str, st.SearchStrategy[bytes]]] = {
    "landmark_json": (
        read_landmarks_json,
        _points_ok(68),
        "lm.json",
        _mutated(LANDMARKS)
        | _json_text(json_values)
        | _json_text(st.lists(st.lists(number_like, max_size=4) | number_like, min_size=66, max_size=70))
        | _json_text(st.fixed_dictionaries({"landmarks": st.lists(st.lists(numbers, min_size=2, max_size=3), min_size=68, max_size=68)})),
    ),
    "landmark_cache": (
        read_landmark_frames,
        _frames_ok,
        "landmarks.json",
        _mutated(FRAMES)
        | _json_text(json_values)
        | _json_text(st.fixed_dictionaries({"version": number_like, "size": st.lists(number_like, max_size=3), "frames": json_values})),
    ),
    "openpose_json": (
        read_pose_json,
        _pose_ok,
        "pose.json",
        _mutated(OPENPOSE)
        | _json_text(json_values)
        | _json_text(st.fixed_dictionaries({"people": st.lists(st.fixed_dictionaries({"pose_keypoints_2d": st.lists(number_like, max_size=80)}) | json_values, max_size=3)})),
    ),
    "coco_json": (
        read_pose_json,
        _pose_ok,
        "coco.json",
        _mutated(COCO)
        | _json_text(st.fixed_dictionaries({"keypoints": st.lists(numbers, max_size=60)}))
        | _json_text(st.lists(st.fixed_dictionaries({"keypoints": st.lists(number_like, max_size=60)}) | json_values, max_size=3)),
    ),
    "deepfashion_csv": (
        read_deepfashion_csv,
        lambda d: isinstance(d, dict) and all(_points_ok(18)(v) for v in d.values()),
        "annotations.csv",
        _mutated(DEEPFASHION)
        | st.binary(max_size=300)
        | st.lists(
            st.tuples(st.text(max_size=5), st.lists(numbers, max_size=19), st.lists(numbers, max_size=19)).map(
                lambda t: f"{t[0]}:{json.dumps(t[1])}:{json.dumps(t[2])}"
            ),
            max_size=4,
        ).map(lambda rows: "\n".join(rows).encode()),
    ),
    "class_list": (
        read_classes,
        lambda c: len(c) > 0 and all(len(col) == 3 for col in c.colors),
        "classes.json",
        _mutated(CLASSES)
        | _json_text(json_values)
        | _json_text(st.fixed_dictionaries({"classes": st.lists(st.dictionaries(st.sampled_from(["id", "name", "color"]), json_values | st.lists(number_like, max_size=4)), max_size=4), "ignore_index": number_like})),
    ),
    "label_map": (_labels, lambda t: t.ndim >= 2, "labels.png", _mutated(_png("L")) | _mutated(_png("P")) | st.binary(max_size=200)),
    "captions": (_read_captions, lambda c: _strings(c) and all(c), "captions.txt", _mutated(CAPTIONS) | st.binary(max_size=200) | st.text().map(str.encode)),
    "metadata_jsonl": (
        lambda p: json_rows(p, "text"),
        lambda rows: all(isinstance(r, dict) and isinstance(r["text"], str) for _, r in rows),
        "metadata.jsonl",
        _mutated(METADATA) | st.lists(json_values, max_size=4).map(lambda v: "\n".join(json.dumps(x) for x in v).encode()),
    ),
    "filenames_pickle": (
        read_name_list,
        _strings,
        "filenames.pickle",
        _mutated(NAMES) | st.binary(max_size=200) | json_values.map(lambda v: pickle.dumps(v, protocol=2)),
    ),
    "yaml_config": (_config, lambda c: c.train.steps is not None, "config.yaml", _mutated(CONFIG) | config_docs | st.binary(max_size=200)),
}  # fmt: skip


# ---- hostile documents (issue 16): deep nesting, huge integers, type confusion ----------------------
deep_nesting = st.builds(
    lambda n, opener, closed: (opener * n + ("1" + "]" * n if closed and opener == "[" else "")).encode(),
    st.integers(500, 120_000),
    st.sampled_from(["[", '{"a":', '{"landmarks":', '[{"keypoints":']),
    st.booleans(),
)
huge_digits = st.integers(21, 6000).map(lambda n: "9" * n)
odd_numbers = huge_digits | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1" * 4301])
confusers = (
    st.sampled_from(["5", "1.5", "", "NaN", True, False, None, [], {}, [[]], {"a": 1}, 0, -1, 2**63, 1e308])
    | st.integers(-(10**25), 10**25)
    | st.text(max_size=4)
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every node of a JSON document, as the keys/indexes leading to it."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _replace(doc: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: (_replace(v, rest, new) if k == head else v) for k, v in doc.items()}
    return [(_replace(v, rest, new) if i == head else v) for i, v in enumerate(doc)]


def _hostile(valid: bytes) -> st.SearchStrategy[bytes]:
    """A valid JSON document with one node replaced by a value of the wrong type (type
    confusion), one number replaced by a huge or non-finite literal, or deep nesting."""
    doc = json.loads(valid)
    paths = _paths(doc)

    @st.composite
    def confused(draw: Any) -> bytes:
        return json.dumps(_replace(doc, draw(st.sampled_from(paths)), draw(confusers))).encode()

    numbers_at = [m.span() for m in re.finditer(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?", valid)]

    @st.composite
    def odd_number(draw: Any) -> bytes:
        start, end = draw(st.sampled_from(numbers_at))
        return valid[:start] + draw(odd_numbers).encode() + valid[end:]

    return confused() | (odd_number() if numbers_at else confused()) | deep_nesting


for _name, _valid in {
    "landmark_json": [LANDMARKS],
    "landmark_cache": [FRAMES],
    "openpose_json": [OPENPOSE],
    "coco_json": [COCO, COCO_ANNOTATIONS],
    "class_list": [CLASSES],
}.items():
    _read, _ok, _file, _contents = CASES[_name]
    CASES[_name] = (_read, _ok, _file, st.one_of(_contents, *map(_hostile, _valid)))


def _lines(valid_rows: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    return st.lists(valid_rows, min_size=1, max_size=4).map(lambda rows: "\n".join(rows).encode())


_read, _ok, _file, _contents = CASES["metadata_jsonl"]
CASES["metadata_jsonl"] = (
    _read,
    _ok,
    _file,
    _contents | _lines(_hostile(METADATA.splitlines()[0]).map(bytes.decode) | st.just(METADATA.decode())),
)
_read, _ok, _file, _contents = CASES["deepfashion_csv"]
_field = st.one_of(deep_nesting, _hostile(json.dumps(list(range(18))).encode())).map(bytes.decode)
CASES["deepfashion_csv"] = (
    _read,
    _ok,
    _file,
    _contents | st.tuples(_field, _field).map(lambda t: f"a.jpg:{t[0]}:{t[1]}\n".encode()),
)

# ---- text files of the data sets and of i2i-run: CUB, pairs, --prompts -------------------------------
cub_ids = (
    st.integers(0, 10**6).map(str)
    | huge_digits
    | st.sampled_from(["\u00b2", "\u0663", "-1", "1.0", "0x1", "", "1e3"])
    | st.text(max_size=4)
)
cub_numbers = numbers.map(str) | odd_numbers | st.sampled_from(["nan", "inf", "-inf", "1e400", "a", ""])
IMAGES_TXT = b"1 001.Black_footed_Albatross/a.jpg\n2 002.Laysan_Albatross/b.jpg\n"
BOXES_TXT = b"1 60.0 27.0 325.0 304.0\n2 139.0 30.0 153.0 264.0\n"
PAIRS = b"from,to\na.jpg,b.jpg\nb.jpg,a.jpg\n"
PROMPTS = b"a small red bird with a short beak\n\nthis bird is blue\n"


def _boxes_ok(boxes: Any) -> bool:
    return all(len(b) == 4 and all(np.isfinite(b)) and b[2] > 0 and b[3] > 0 for b in boxes.values())


CASES.update(
    {
        "cub_images_txt": (
            read_image_list,
            lambda d: all(isinstance(k, int) and isinstance(v, str) for k, v in d.items()),
            "images.txt",
            _mutated(IMAGES_TXT)
            | _lines(st.tuples(cub_ids, st.text(max_size=8)).map(" ".join))
            | st.binary(max_size=200),
        ),
        "cub_boxes_txt": (
            read_boxes,
            _boxes_ok,
            "bounding_boxes.txt",
            _mutated(BOXES_TXT)
            | _lines(st.tuples(cub_ids, st.lists(cub_numbers, min_size=4, max_size=5)).map(lambda t: " ".join([t[0], *t[1]])))
            | st.binary(max_size=200),
        ),
        "pairs_csv": (
            read_pairs,
            lambda pairs: bool(pairs) and all(len(p) == 2 and all(p) for p in pairs),
            "pairs-train.csv",
            _mutated(PAIRS)
            | _lines(st.lists(st.text(max_size=6) | st.sampled_from(["..", "/a", '"', "a\x00", "\"x" * 3]), max_size=3).map(",".join))
            | st.integers(131_000, 140_000).map(lambda n: b'a.jpg,"' + b"x" * n + b'"\n')
            | st.binary(max_size=200),
        ),
        "prompts_file": (
            lambda p: read_lines(p, MAX_PROMPTS, MAX_PROMPTS_BYTES),
            lambda lines: 0 < len(lines) <= MAX_PROMPTS and all(line.strip() for line in lines),
            "prompts.txt",
            _mutated(PROMPTS)
            | st.text().map(str.encode)
            | st.integers(MAX_PROMPTS - 2, MAX_PROMPTS + 2).map(lambda n: b"a bird\n" * n)
            | st.binary(max_size=200),
        ),
    }
)  # fmt: skip


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, bytes]:
    """Small valid videos (24 frames, 32x32) of each container kind, to cut and corrupt."""
    import torch

    from i2i.data.video import VideoWriter

    folder = tmp_path_factory.mktemp("videos")
    frames = torch.linspace(-1, 1, 32).expand(24, 3, 32, 32) + torch.arange(24).view(24, 1, 1, 1) * 0.02
    out = {}
    for suffix in (".mp4", ".mkv", ".avi"):
        with VideoWriter(folder / f"v{suffix}", fps=12) as writer:
            writer.write(frames.clamp(-1, 1))
        out[suffix] = (folder / f"v{suffix}").read_bytes()
    return out


def _decode(path: Path) -> list[Any]:
    probe_video(path)
    return list(iter_video_frames(path, chunk_size=8))


def _frames_ok(chunks: list[Any]) -> bool:
    return all(c.ndim == 4 and c.shape[1] == 3 and bool(c.isfinite().all()) for c in chunks)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_corrupt_and_cut_videos_are_a_one_line_error_or_frames(tmp_path, videos, suffix):
    """Decoding is slower than parsing: fewer examples, each a valid video cut or with bytes
    flipped, or another container's bytes under this suffix."""
    path = tmp_path / f"clip{suffix}"
    others = [v for k, v in videos.items() if k != suffix]

    @settings(FUZZ, max_examples=max(10, EXAMPLES // 6))
    @given(_mutated(videos[suffix]) | st.sampled_from(others).flatmap(_mutated) | st.binary(max_size=300))
    def run(content: bytes) -> None:
        _check(path, content, _decode, _frames_ok)

    run()


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_is_a_one_line_error_or_a_valid_result(tmp_path, name):
    read, valid, filename, contents = CASES[name]
    path = tmp_path / filename

    @FUZZ
    @given(contents)
    def run(content: bytes) -> None:
        _check(path, content, read, valid)

    run()


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE)
@given(
    st.lists(st.text(max_size=20).map(lambda s: "train." + s) | st.text(max_size=30), min_size=1, max_size=3)
)
def test_malformed_set_overrides_are_config_errors(sets):
    try:
        config = load_config(get_modality("img2img"), None, sets)
    except I2IError as exc:
        assert "\n" not in str(exc)
        return
    assert config.train.steps >= 0
