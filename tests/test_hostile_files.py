"""Hostile files (issue 16), each made here: every reader and `i2i-run` refuses it with one line
naming the file and the problem (exit status 2 for the command), before any large allocation, and
leaves nothing at --out.

JSON of every plugin's readers (deep nesting, 5000-digit integers, NaN/Infinity, wrong types,
oversized files), images in formats i2i does not decode or of absurd shape, videos in containers
i2i does not open, too large, corrupt or cut, face2img clips beyond their memory cap, frame numbers
past 99,999, CUB text files, pairs CSVs and --prompts files.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.cli.main import run_main
from i2i.data import jsonfile
from i2i.data.folders import PhotoFolder, match_by_name
from i2i.data.images import MAX_SIDE, list_images, natural_key, probe_image, read_image
from i2i.data.text import json_rows, read_lines
from i2i.data.video import VideoWriter, iter_video_arrays, iter_video_frames, probe_video
from i2i.errors import InputError
from i2i.temporal import previous_frame
from i2i_face2img import data as face_data
from i2i_face2img.landmarks import read_landmark_frames, read_landmarks_json
from i2i_pose2img.data import read_pairs
from i2i_pose2img.keypoints import read_deepfashion_csv, read_pose_json
from i2i_seg2img.labels import read_classes
from i2i_text2img.conditioner import MAX_PROMPTS, MAX_PROMPTS_BYTES
from i2i_text2img.data import read_boxes, read_image_list


def refused(read, path: Path, *needles: str) -> str:
    """`read(path)` raises one InputError line naming the file and containing each needle."""
    with pytest.raises(InputError) as info:
        read(path)
    message = str(info.value)
    assert "\n" not in message and path.name in message, message
    for needle in needles:
        assert needle in message, message
    return message


# ---- JSON: one bounded reader for every plugin ------------------------------------------------------
DEEP = "[" * 100_000
DEEP_OBJECT = '{"a":' * 100_000
HUGE = "1" * 5000
GOOD_POSE = [v for i in range(18) for v in (10.0 + i, 20.0 + i, 1.0)]
GOOD_LANDMARKS = [[10.0 + i, 20.0 + i / 2] for i in range(68)]

# (reader, file name, hostile content, what the message says)
BOUNDS = [
    ("[NaN]", "NaN is not a JSON number"),
    ('{"keypoints": [Infinity]}', "Infinity is not a JSON number"),
    ("[-Infinity]", "-Infinity is not a JSON number"),
    ("[1e999]", "out of range"),
    (DEEP, "nested too deeply"),
    (DEEP_OBJECT, "nested too deeply"),
    (HUGE, "an integer of 5000 digits"),
    ('{"people": [{"pose_keypoints_2d": [' + HUGE + "]}]}", "an integer of 5000 digits"),
    ("{not json", "not valid JSON"),
    ("", "empty file"),
]
READERS = {
    "pose.json": read_pose_json,
    "face.json": read_landmarks_json,
    "landmarks.json": read_landmark_frames,
    "classes.json": read_classes,
}


@pytest.mark.parametrize("name", sorted(READERS))
@pytest.mark.parametrize(("content", "problem"), BOUNDS, ids=lambda v: str(v)[:12])
def test_json_readers_refuse_unbounded_documents(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_text(content)
    refused(READERS[name], path, problem)


@pytest.mark.parametrize("name", sorted(READERS))
def test_json_readers_refuse_an_oversized_file_before_reading_it(tmp_path, name):
    path = tmp_path / name
    with open(path, "wb") as f:  # sparse: no disk used, and nothing of it may be read
        f.truncate(jsonfile.MAX_JSON_BYTES + 1)
    refused(READERS[name], path, f"more than the limit of {jsonfile.MAX_JSON_BYTES}")


TYPES = [
    (read_pose_json, {"annotations": 5}, "'annotations' must be a list"),
    (
        read_pose_json,
        {"annotations": [{"num_keypoints": "5", "keypoints": [1] * 51}]},
        "num_keypoints must be",
    ),
    (
        read_pose_json,
        {"annotations": [{"num_keypoints": True, "keypoints": [1] * 51}]},
        "num_keypoints must be",
    ),
    (read_pose_json, {"keypoints": ["1"] * 51}, "must be numbers"),
    (read_pose_json, {"keypoints": [True] * 51}, "must be numbers"),
    (read_pose_json, {"keypoints": [[1, 2, 3]] * 17}, "51 numbers"),
    (read_pose_json, {"people": [{"pose_keypoints_2d": ["5"] * 54}]}, "must be numbers"),
    (read_pose_json, {"people": 5}, "no person"),
    (read_pose_json, {"people": [5]}, "pose_keypoints_2d"),
    (read_landmarks_json, {"landmarks": "68 points"}, "list of 68"),
    (read_landmarks_json, [["1", "2"]] * 68, "landmark 0"),
    (read_landmarks_json, [[1, None]] * 68, "landmark 0"),
    (read_landmark_frames, {"version": True, "size": [64, 64], "frames": {}}, "version"),
    (read_landmark_frames, {"version": 1, "size": ["64", 64], "frames": {}}, "'size'"),
    (read_landmark_frames, {"version": 1, "size": [64, 64], "frames": [1]}, "'frames'"),
    (read_classes, {"classes": 5}, "expected"),
    (read_classes, {"classes": [{"id": "0", "color": [1, 2, 3]}]}, "ids must be"),
    (read_classes, {"classes": [{"id": 0, "color": ["1", 2, 3]}]}, "color must be"),
    (read_classes, {"classes": [{"color": [1, 2, 3]}], "ignore_index": "255"}, "ignore_index"),
    (read_classes, {"classes": [{"color": [1, 2, 3]}], "ignore_index": 1e20}, "ignore_index"),
    (read_classes, {"classes": [{"color": [1, 2, 3]}], "ignore_index": 10**19}, "ignore_index"),
    (read_classes, {"classes": [{"color": [1, 2, 3]}] * 65537}, "more than the limit of 65536"),
]


@pytest.mark.parametrize(("read", "document", "problem"), TYPES, ids=lambda v: str(v)[:30])
def test_json_readers_refuse_wrong_types(tmp_path, read, document, problem):
    path = tmp_path / "file.json"
    path.write_text(json.dumps(document))
    refused(read, path, problem)


def test_json_lines_and_deepfashion_fields_share_the_bounds(tmp_path):
    path = tmp_path / "metadata.jsonl"
    path.write_text('{"file_name": "a.png"}\n' + DEEP + "\n")
    refused(lambda p: json_rows(p, "file_name"), path, "line 2", "nested too deeply")
    path.write_text('{"file_name": "a.png", "n": ' + HUGE + "}\n")
    refused(lambda p: json_rows(p, "file_name"), path, "line 1", "5000 digits")
    csv = tmp_path / "annotation.csv"
    good = json.dumps(list(range(18)))
    for field, problem in ((DEEP, "coordinates must look like"), (json.dumps(["1"] * 18), "must be numbers")):
        csv.write_text(f"name:keypoints_y:keypoints_x\na.jpg:{field}:{good}\n")
        refused(read_deepfashion_csv, csv, "line 2", problem)
    csv.write_text(f"a.jpg:{good}:[{HUGE}]\n")
    refused(read_deepfashion_csv, csv, "line 1")


def test_well_formed_documents_still_read(tmp_path):
    path = tmp_path / "pose.json"
    path.write_text(json.dumps({"annotations": [{"num_keypoints": 5, "keypoints": [3] * 51}]}))
    assert read_pose_json(path).shape == (18, 2)
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": GOOD_POSE}]}))
    assert read_pose_json(path)[0].tolist() == [10.0, 20.0]
    path.write_text(json.dumps({"landmarks": GOOD_LANDMARKS}))
    assert read_landmarks_json(path).shape == (68, 2)
    assert jsonfile.parse_json("[12345678901234567890, -1.5e300]", "x") == [12345678901234567890, -1.5e300]


# ---- images: allowed formats only, each side capped --------------------------------------------------
@pytest.mark.parametrize("fmt", ["EPS", "PPM", "TGA", "ICO", "PCX", "SGI", "XBM"])
def test_images_in_other_formats_are_refused_whatever_their_name(tmp_path, fmt):
    path = tmp_path / "photo.png"
    Image.new("1" if fmt == "XBM" else "RGB", (16, 16)).save(path, format=fmt)
    for read in (read_image, probe_image):
        refused(read, path, "not an image in a format i2i reads")


def test_a_jpeg_named_png_is_still_read(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (16, 8), (200, 10, 10)).save(path, format="JPEG")
    assert read_image(path).size == (16, 8) and probe_image(path)[:2] == (16, 8)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (8-bit grey) and whose pixel data is empty."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(1, 1 << 26), (1 << 26, 1), (MAX_SIDE + 1, 2)])
def test_a_thin_strip_within_the_pixel_count_is_refused_from_its_header(tmp_path, size):
    path = tmp_path / "strip.png"
    path.write_bytes(png_header(*size))
    for read in (read_image, probe_image):
        refused(read, path, f"{size[0]}x{size[1]}", f"limit of {MAX_SIDE} pixels")


def test_the_largest_side_is_still_read(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("L", (MAX_SIDE, 2)).save(path)
    assert read_image(path).size == (MAX_SIDE, 2)


# ---- videos: allowed containers only, frames capped, corrupt and cut files ---------------------------
def smooth(n: int, h: int = 32, w: int = 32) -> torch.Tensor:
    t = torch.linspace(-1, 1, w).expand(n, 3, h, w).clone()
    return t + torch.arange(n).view(n, 1, 1, 1) * 0.01


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for suffix in (".mp4", ".mkv"):
        with VideoWriter(folder / f"clip{suffix}", fps=25) as writer:
            writer.write(smooth(30))
        out[suffix] = folder / f"clip{suffix}"
    return out


def read_video(path: Path, **kwargs) -> int:
    probe_video(path, **kwargs)
    return sum(len(c) for c in iter_video_frames(path, **kwargs))


def test_playlists_and_lists_named_mp4_are_not_opened(tmp_path, clips):
    hls = tmp_path / "playlist.mp4"
    hls.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.2,\n{clips['.mp4']}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "list.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile '{clips['.mp4']}'\n")
    text = tmp_path / "notes.mkv"
    text.write_text("just some notes\n" * 20)
    for path in (hls, concat, text):
        refused(read_video, path, "not a readable video")


def test_an_allowed_container_under_another_video_suffix_is_read(tmp_path, clips):
    renamed = tmp_path / "actually_matroska.mp4"
    shutil.copy(clips[".mkv"], renamed)
    assert read_video(renamed) == 30
    named = tmp_path / "concat:x.mp4"  # a name FFmpeg would take for a protocol: read as a file
    shutil.copy(clips[".mp4"], named)
    assert read_video(named) == 30


def test_video_frames_over_the_pixel_cap_are_refused_before_decoding(clips, monkeypatch):
    import av

    decoded = []
    monkeypatch.setattr(av.container.InputContainer, "decode", lambda *a, **k: decoded.append(1))
    for path in clips.values():
        refused(lambda p: read_video(p, max_pixels=1000), path, "video frame is 32x32 (1024 pixels)")
    assert not decoded


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_cut_videos_are_one_line(tmp_path, clips, suffix, keep):
    data = clips[suffix].read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: int(len(data) * keep)])
    refused(read_video, path)


def test_corrupt_videos_are_one_line_or_frames(tmp_path, clips):
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.mp4"
    path.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    refused(read_video, path, "not a readable video")
    for suffix, clip in clips.items():
        data = bytearray(clip.read_bytes())
        for _ in range(5):
            broken = bytearray(data)
            for i in rng.integers(len(broken) // 4, len(broken), 20):
                broken[i] ^= 0xFF
            path = tmp_path / f"flipped{suffix}"
            path.write_bytes(bytes(broken))
            try:
                assert read_video(path) <= 30
            except InputError as exc:
                assert "\n" not in str(exc) and path.name in str(exc)


# ---- face2img clips: uint8 chunks, a memory cap ------------------------------------------------------
def test_face2img_clip_frames_are_uint8_and_never_a_float_clip(clips, monkeypatch):
    monkeypatch.setattr("i2i.data.video.iter_video_frames", lambda *a, **k: pytest.fail("float decode"))
    frames = face_data._video_frames(clips[".mp4"])
    assert len(frames) == 30 and all(f.dtype == np.uint8 and f.shape == (32, 32, 3) for f in frames)
    expected = next(iter_video_arrays(clips[".mp4"], chunk_size=30))
    assert all((a == b).all() for a, b in zip(frames, expected))


def test_face2img_clip_over_the_memory_cap_is_refused(clips, monkeypatch):
    frame = 32 * 32 * 3
    # MP4 stores its frame count: refused from the header, before any frame is decoded
    with monkeypatch.context() as m:
        m.setattr("i2i.data.video.iter_video_arrays", lambda *a, **k: pytest.fail("decoded"))
        refused(
            lambda p: face_data._video_frames(p, max_bytes=10 * frame), clips[".mp4"], "30 frames of 32x32"
        )
    # Matroska does not: refused once the decoded frames pass the cap
    refused(lambda p: face_data._video_frames(p, max_bytes=10 * frame), clips[".mkv"], "too long to keep")
    assert len(face_data._video_frames(clips[".mkv"], max_bytes=30 * frame)) == 30


# ---- frame numbers past 99,999 -----------------------------------------------------------------------
def test_frames_past_99999_are_listed_in_number_order(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    names = ["street_99998", "street_99999", "street_100000", "street_100001", "yard_9", "yard_10"]
    for name in reversed(names):
        Image.new("L", (4, 4)).save(folder / f"{name}.png")
    assert [p.stem for p in list_images(folder)] == names
    samples = PhotoFolder(tmp_path, "train").samples
    paths = [s["target"] for s in samples]
    assert [p.stem for p in paths] == names
    assert (
        previous_frame(paths, 2) == 1 and previous_frame(paths, 5) == 4 and previous_frame(paths, 4) is None
    )
    matched = match_by_name({"target": folder})
    assert [s["target"].stem for s in matched] == names


def test_natural_order_is_total():
    names = ["a1", "a01", "a001", "a10", "a2", "b", "a", "a1b", "a1a"]
    order = sorted(names, key=natural_key)
    assert order == sorted(reversed(names), key=natural_key)  # ties broken by the name itself
    assert order == ["a", "a001", "a01", "a1", "a1a", "a1b", "a2", "a10", "b"]
    assert natural_key("x" + "9" * 5000) > natural_key("x" + "9" * 4999)  # no int conversion


# ---- CUB text files, pairs CSVs, --prompts files -----------------------------------------------------
@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("\u00b2 001.A/a.jpg", "line 1: expected"),
        (f"{HUGE} 001.A/a.jpg", "line 1: expected"),
        ("1", "line 1"),
    ],
)
def test_cub_image_lists_refuse_odd_ids(tmp_path, line, problem):
    path = tmp_path / "images.txt"
    path.write_text(line + "\n")
    refused(read_image_list, path, problem)


@pytest.mark.parametrize("box", ["0 0 inf 5", "0 0 nan 5", "0 0 1e400 5", "1e8 0 4 4", "0 0 0 4", "a b c d"])
def test_cub_boxes_refuse_what_no_crop_can_use(tmp_path, box):
    path = tmp_path / "bounding_boxes.txt"
    path.write_text(f"1 {box}\n")
    refused(read_boxes, path, "line 1")


def test_cub_text_well_formed_still_reads(tmp_path):
    (tmp_path / "images.txt").write_text("1 001.A/a.jpg\n\n2 001.A/b.jpg\n")
    assert read_image_list(tmp_path / "images.txt") == {1: "001.A/a.jpg", 2: "001.A/b.jpg"}
    (tmp_path / "bounding_boxes.txt").write_text("1 1.5 2 30 40\n")
    assert read_boxes(tmp_path / "bounding_boxes.txt") == {1: (1.5, 2.0, 30.0, 40.0)}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('a.jpg,"' + "x" * 200_000 + '"\n', "not a CSV row"),
        ("a.jpg,../../secret.jpg\n", "file names in the image folder"),
        ("/etc/a.jpg,b.jpg\n", "file names in the image folder"),
        ("a\x00.jpg,b.jpg\n", "file names in the image folder"),
        ("a.jpg,b.jpg,c.jpg\n", "expected from,to"),
    ],
)
def test_pairs_csv_refuses_huge_fields_and_escaping_names(tmp_path, content, problem):
    path = tmp_path / "pairs-train.csv"
    path.write_text(content)
    refused(read_pairs, path, problem)


def test_prompts_files_are_bounded(tmp_path):
    def read(p: Path) -> list[str]:
        return read_lines(p, MAX_PROMPTS, MAX_PROMPTS_BYTES)

    path = tmp_path / "prompts.txt"
    path.write_text("a red bird\n" * (MAX_PROMPTS + 1))
    refused(read, path, f"more than the limit of {MAX_PROMPTS}")
    path.write_text("a" * (MAX_PROMPTS_BYTES + 1))
    refused(read, path, f"more than the limit of {MAX_PROMPTS_BYTES}")
    path.write_text("\n \n")
    refused(read, path, "no non-blank line")
    path.write_bytes(b"\xff\xfe bird\n")
    refused(read, path, "not a UTF-8")
    with pytest.raises(InputError, match="more than the limit"):
        read(Path("/dev/zero"))  # no size to check first: the read itself stops at the cap
    path.write_text("a red bird\n\nthis bird is blue\n")
    assert read(path) == ["a red bird", "this bird is blue"]


# ---- the command line: exit 2, one line, nothing written ----------------------------------------------
def i2i_run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        run_main(argv)
    return info.value.code, capsys.readouterr().err


def assert_refused(argv: list[str], capsys, out: Path, *needles: str) -> None:
    before = sorted(p.name for p in out.parent.iterdir())
    code, err = i2i_run([*argv, "--out", str(out)], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert sorted(p.name for p in out.parent.iterdir()) == before  # nothing written, no temp file


@pytest.fixture
def outdir(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


def test_run_refuses_hostile_pose_and_landmark_json(tmp_path, capsys, outdir):
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (120, 120, 120)).save(source)
    good = tmp_path / "good_pose.json"
    good.write_text(json.dumps({"people": [{"pose_keypoints_2d": GOOD_POSE}]}))
    deep, typed = tmp_path / "deep.json", tmp_path / "typed.json"
    deep.write_text(DEEP)
    typed.write_text(json.dumps({"annotations": [{"num_keypoints": "5", "keypoints": [1] * 51}]}))
    run = ["--plugin", "pose2img", "--source", str(source), "--source-pose", str(good), "--pose"]
    assert_refused([*run, str(deep)], capsys, outdir / "a.png", "deep.json", "nested too deeply")
    assert_refused([*run, str(typed)], capsys, outdir / "a.png", "typed.json", "num_keypoints")
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"landmarks": GOOD_LANDMARKS})[:-3] + ", " + HUGE + "]]}")
    face = ["--plugin", "face2img", "--portrait", str(source), "--portrait-landmarks", str(huge)]
    assert_refused([*face, "--driving", str(huge)], capsys, outdir / "b.png", "huge.json", "5000 digits")


def test_run_refuses_hostile_images_and_videos(tmp_path, capsys, outdir, clips):
    eps = tmp_path / "drawing.png"
    Image.new("RGB", (16, 16)).save(eps, format="EPS")
    strip = tmp_path / "strip.png"
    strip.write_bytes(png_header(1, 1 << 26))
    run = ["--plugin", "img2img", "--input"]
    assert_refused([*run, str(eps)], capsys, outdir / "a.png", "drawing.png", "format i2i reads")
    assert_refused([*run, str(strip)], capsys, outdir / "a.png", "strip.png", f"limit of {MAX_SIDE}")
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (16, 16)).save(folder / "ok.png")
    shutil.copy(strip, folder / "thin.png")
    assert_refused([*run, str(folder)], capsys, outdir / "results", "thin.png", f"limit of {MAX_SIDE}")
    hls = tmp_path / "playlist.mp4"
    hls.write_text(f"#EXTM3U\n#EXTINF:1.2,\n{clips['.mp4']}\n#EXT-X-ENDLIST\n")
    assert_refused([*run, str(hls)], capsys, outdir / "a.mp4", "playlist.mp4", "not a readable video")
    cut = tmp_path / "cut.mp4"
    data = clips[".mp4"].read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert_refused([*run, str(cut), "--batch-size", "4"], capsys, outdir / "a.mp4", "cut.mp4")


def test_run_refuses_a_prompts_file_over_its_limits(tmp_path, capsys, outdir):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a small red bird\n" * (MAX_PROMPTS + 1))
    run = ["--plugin", "text2img", "--prompts"]
    assert_refused([*run, str(prompts)], capsys, outdir / "a.png", "prompts.txt", "split the file")
