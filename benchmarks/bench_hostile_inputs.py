#!/usr/bin/env python
"""Hostile input files through `i2i-run`: exit status, wall time and peak RSS of each refusal.

    python benchmarks/bench_hostile_inputs.py [--threads 1] [--out FILE]

Issue 16 asks that every hostile file end in exit status 2 with one line, in bounded time and
memory (30 s and 4 GB), with nothing written. Each case here is a fresh `i2i-run` process (peak
RSS from `os.wait4`, through `fresh_process.py`'s launcher) on a file this script makes: deep and
huge-integer JSON, a COCO file with a string count, an oversized sparse JSON, an EPS named .png,
a 1 x 67,108,864 PNG (alone and in a folder), an HLS playlist named .mp4, a cut MP4, a --prompts
file of 1001 lines and /dev/zero as --prompts. The same command on a valid file of each plugin is
the baseline: a refusal should cost no more than the model load that precedes it. Models are the
shipped defaults (`--plugin NAME`). Writes benchmarks/results/hostile-inputs-<host>.json.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import socket
import struct
import sys
import tempfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fresh_process import run_measured  # noqa: E402

POSE = [v for i in range(18) for v in (10.0 + i, 20.0 + i, 1.0)]
LANDMARKS = [[10.0 + i, 20.0 + i / 2] for i in range(68)]


def png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def make_files(d: Path) -> dict[str, list[str]]:
    """case name -> i2i-run arguments (without --out)."""
    import torch
    from PIL import Image

    from i2i.data.jsonfile import MAX_JSON_BYTES
    from i2i.data.video import VideoWriter

    Image.new("RGB", (64, 64), (120, 120, 120)).save(d / "source.png")
    (d / "pose.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": POSE}]}))
    (d / "deep.json").write_text("[" * 100_000)
    (d / "typed.json").write_text(
        json.dumps({"annotations": [{"num_keypoints": "5", "keypoints": [1] * 51}]})
    )
    with open(d / "big.json", "wb") as f:
        f.truncate(MAX_JSON_BYTES + 1)
    (d / "face.json").write_text(json.dumps({"landmarks": LANDMARKS}))
    (d / "huge.json").write_text(json.dumps({"landmarks": LANDMARKS})[:-3] + ", " + "1" * 5000 + "]]}")
    Image.new("RGB", (16, 16)).save(d / "drawing.png", format="EPS")
    (d / "strip.png").write_bytes(png_header(1, 1 << 26))
    (d / "photos").mkdir()
    Image.new("RGB", (32, 32)).save(d / "photos" / "ok.png")
    (d / "photos" / "thin.png").write_bytes(png_header(1, 1 << 26))
    frames = torch.linspace(-1, 1, 32).expand(30, 3, 32, 32).clone()
    with VideoWriter(d / "clip.mp4", fps=25) as writer:
        writer.write(frames)
    data = (d / "clip.mp4").read_bytes()
    (d / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    (d / "playlist.mp4").write_text(f"#EXTM3U\n#EXTINF:1.2,\n{d / 'clip.mp4'}\n#EXT-X-ENDLIST\n")
    (d / "prompts.txt").write_text("a small red bird\nthis bird is blue\n")
    (d / "many.txt").write_text("a small red bird\n" * 1001)
    pose = ["--plugin", "pose2img", "--source", str(d / "source.png"), "--source-pose", str(d / "pose.json")]
    face = ["--plugin", "face2img", "--portrait", str(d / "source.png"), "--portrait-landmarks"]
    img = ["--plugin", "img2img", "--input"]
    txt = ["--plugin", "text2img", "--prompts"]
    return {
        "baseline pose2img (valid JSON)": [*pose, "--pose", str(d / "pose.json")],
        "pose2img: 100,000 nested [": [*pose, "--pose", str(d / "deep.json")],
        'pose2img: "num_keypoints": "5"': [*pose, "--pose", str(d / "typed.json")],
        "pose2img: 64 MiB + 1 sparse JSON": [*pose, "--pose", str(d / "big.json")],
        "baseline face2img (valid JSON)": [*face, str(d / "face.json"), "--driving", str(d / "face.json")],
        "face2img: 5000-digit integer": [*face, str(d / "huge.json"), "--driving", str(d / "face.json")],
        "baseline img2img (valid image)": [*img, str(d / "source.png")],
        "img2img: EPS named .png": [*img, str(d / "drawing.png")],
        "img2img: 1 x 67,108,864 PNG": [*img, str(d / "strip.png")],
        "img2img: folder with that PNG": [*img, str(d / "photos")],
        "baseline img2img (valid video)": [*img, str(d / "clip.mp4")],
        "img2img: HLS playlist named .mp4": [*img, str(d / "playlist.mp4")],
        "img2img: MP4 cut at 2/3": [*img, str(d / "cut.mp4")],
        "baseline text2img (2 prompts)": [*txt, str(d / "prompts.txt")],
        "text2img: 1001 prompts": [*txt, str(d / "many.txt")],
        "text2img: --prompts /dev/zero": [*txt, "/dev/zero"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--out", type=Path, default=HERE / "results" / f"hostile-inputs-{socket.gethostname()}.json"
    )
    args = ap.parse_args()
    import torch

    result: dict = {
        "benchmark": "bench_hostile_inputs",
        "what": "i2i-run on hostile files: exit status (2 = refused), wall and CPU seconds, peak RSS, "
        "the stderr line, whether --out was left empty; baselines are the same command on a valid file",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "cases": {},
    }
    exe = str(Path(sys.executable).with_name("i2i-run"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for k, (name, argv) in enumerate(make_files(d).items()):
            outdir = d / f"out{k}"
            outdir.mkdir()
            video = argv[-1].endswith(".mp4")
            out = outdir / (
                "result.mp4" if video else "result" if argv[-1].endswith("photos") else "result.png"
            )
            entry = run_measured([exe, *argv, "--out", str(out), "--quiet"], env)
            entry["out_left_empty"] = not any(outdir.iterdir())
            result["cases"][name] = entry
            print(
                f"{name}: exit {entry['exit']}, {entry['wall_s']} s, {entry['peak_rss_mib']} MiB", flush=True
            )
    refusals = {k: v for k, v in result["cases"].items() if not k.startswith("baseline")}
    result["all_refused_exit_2_one_line_nothing_written"] = all(
        v["exit"] == 2 and "\n" not in v["stderr"] and v["out_left_empty"] for v in refusals.values()
    )
    result["max_refusal_wall_s"] = max(v["wall_s"] for v in refusals.values())
    result["max_refusal_peak_rss_mib"] = max(v["peak_rss_mib"] for v in refusals.values())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
