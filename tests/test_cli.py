"""End-to-end command line in subprocesses: exit statuses, one-line errors, train -> run -> eval."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tiny import TINY

BIN = Path(sys.executable).parent
FIXTURES = Path(__file__).parent / "fixtures" / "pix2pix-reference"


def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_usage_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """demo data -> a 4-step tiny run, through the real commands."""
    root = tmp_path_factory.mktemp("cli")
    data, run = root / "demo", root / "run"
    cli("i2i", "data", "demo", "img2img", "--out", str(data), "--n", "12", "--seed", "1")
    sets = [arg for s in [*TINY, "train.steps=4"] for arg in ("--set", s)]
    cli("i2i-train", "--plugin", "img2img", "--data", str(data), "--out", str(run), "--quiet", *sets)
    aligned = sorted((data / "test").glob("*.png"))[0]
    with Image.open(aligned) as im:
        w, h = im.size
        im.crop((0, 0, w // 2, h)).resize((48, 40)).save(root / "labels.png")
    return root, data, run


def test_plugins_lists_img2img():
    assert "img2img" in cli("i2i", "plugins").stdout
    rows = json.loads(cli("i2i", "plugins", "--json").stdout)
    row = next(r for r in rows if r["name"] == "img2img")
    assert row["status"] == "ok" and row["distribution"] == "i2i-img2img" and row["inputs"]


def test_run_help_shows_plugin_inputs():
    out = cli("i2i-run", "--plugin", "img2img", "--help").stdout
    assert "--input" in out and "img2img inputs" in out


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("i2i-run",), ("--plugin",)),
        (("i2i-run", "--plugin", "nope", "--out", "x.png"), ("unknown plugin 'nope'",)),
        (("i2i-run", "--plugin", "img2img", "--out", "x.png"), ("needs --input",)),
        (("i2i-run", "--plugin", "img2img", "--input", "missing.png", "--out", "x.png"), ("missing.png",)),
        (
            ("i2i-run", "--plugin", "img2img", "--input", "a.png", "--truncation", "0", "--out", "x.png"),
            ("--truncation",),
        ),
        (("i2i", "data", "demo", "nope", "--out", "d"), ("unknown plugin",)),
        (("i2i-train", "--plugin", "img2img", "--data", "nowhere", "--out", "r"), ("nowhere",)),
        (("i2i", "frobnicate"), ("invalid choice",)),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path, args, needles):
    proc = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, cwd=tmp_path)
    assert_usage_error(proc, *needles)
    assert not (tmp_path / "x.png").exists()


def test_train_rejects_bad_settings(trained, tmp_path):
    _, data, _ = trained
    proc = cli("i2i-train", "--plugin", "img2img", "--data", str(data), "--out", str(tmp_path / "r"),
               "--set", "train.stepz=3", ok=False)  # fmt: skip
    assert_usage_error(proc, "train.stepz")
    proc = cli("i2i-train", "--plugin", "img2img", "--data", str(data), "--out", str(tmp_path / "r"),
               "--set", "model.generator.wings=3", ok=False)  # fmt: skip
    assert_usage_error(proc, "wings")


def test_bad_input_image_is_named_and_nothing_is_written(trained, tmp_path):
    _, _, run = trained
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    out = tmp_path / "out.png"
    proc = cli("i2i-run", "--checkpoint", str(run / "model.safetensors"), "--input", str(bad), "--out", str(out),
               ok=False)  # fmt: skip
    assert_usage_error(proc, "bad.png")
    assert not out.exists()


def test_bad_checkpoint_is_named(tmp_path):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"\x00" * 5)
    proc = cli("i2i-run", "--checkpoint", str(fake), "--plugin", "img2img", "--input", str(fake),
               "--out", str(tmp_path / "o.png"), ok=False)  # fmt: skip
    assert_usage_error(proc, "model.safetensors")


def test_run_image_dir_and_samples(trained, tmp_path):
    root, _data, run = trained
    out = tmp_path / "out.png"
    cli(
        "i2i-run",
        "--checkpoint",
        str(run / "model.safetensors"),
        "--input",
        str(root / "labels.png"),
        "--out",
        str(out),
    )
    with Image.open(out) as im:
        assert im.size == (48, 40)  # any size in, same size out (padding handled by the pipeline)
    folder = tmp_path / "ins"
    folder.mkdir()
    for i in range(3):
        Image.open(root / "labels.png").save(folder / f"f{i}.png")
    cli("i2i-run", "--checkpoint", str(run), "--input", str(folder), "--out", str(tmp_path / "outs"))
    assert sorted(p.name for p in (tmp_path / "outs").iterdir()) == ["f0.png", "f1.png", "f2.png"]


def test_video_in_video_out(trained, tmp_path):
    import torch

    from i2i.data.video import VideoWriter, probe_video

    _root, _, run = trained
    clip = tmp_path / "clip.mp4"
    frames = torch.linspace(-1, 1, 5).view(5, 1, 1, 1).expand(5, 3, 32, 48).contiguous()
    with VideoWriter(clip, fps=10) as writer:
        writer.write(frames)
    out = tmp_path / "out.mp4"
    cli("i2i-run", "--checkpoint", str(run / "model.safetensors"), "--input", str(clip), "--out", str(out))
    info = probe_video(out)
    assert (info.width, info.height) == (48, 32) and info.frames == 5


def _resume(data, run, *sets: str):
    """`i2i-train --resume` of an existing run with `--set` overrides."""
    return cli("i2i-train", "--data", str(data), "--out", str(run), "--resume", "--quiet",
               *[arg for item in sets for arg in ("--set", item)])  # fmt: skip


def test_resume_through_cli_and_eval_json(trained):
    _, data, run = trained
    # a run saved by an older i2i lacks keys added since (resuming fills them from today's
    # defaults) and has the flat loss section of before loss terms (migrated to the terms)
    saved = run / "config.yaml"
    old = yaml.safe_load(saved.read_text())
    del old["train"]["max_nonfinite"], old["recipe"]
    old["loss"] = {"gan": "vanilla", "gan_weight": 1.0, "l1": 100.0, "feature_matching": 0.0, "vgg": 0.0,
                   "r1": 0.0, "mismatch": 0.0, "ma_gp": 0.0, "ma_gp_power": 6.0, "ma_gp_every": 1}  # fmt: skip
    saved.write_text(yaml.safe_dump(old))
    _resume(data, run, "train.steps=6", "loss.feature_matching=0")  # an old --set key too
    resumed = yaml.safe_load(saved.read_text())
    assert resumed["recipe"] == "paired" and resumed["loss"]["generator"]["l1"] == 100.0
    meta_steps = json.loads(Path(run / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    assert meta_steps == 6
    result = json.loads(cli("i2i", "eval", "--checkpoint", str(run), "--data", str(data), "--json").stdout)
    scores = result["metrics"]["model"]
    assert result["n"] >= 1 and 0 <= scores["l1"] <= 1 and "psnr" in scores


def test_original_pix2pix_checkpoint_runs_through_cli(tmp_path):
    ref = FIXTURES / "unet_256-ngf16-batch"
    out = tmp_path / "b.png"
    cli("i2i-run", "--plugin", "img2img", "--checkpoint", str(ref / "latest_net_G.pth"),
        "--input", str(FIXTURES / "inputs" / "astronaut.png"), "--out", str(out))  # fmt: skip
    got = np.asarray(Image.open(out), dtype=np.int16)
    want = np.asarray(Image.open(ref / "astronaut_expected.png"), dtype=np.int16)
    assert np.abs(got - want).max() <= 1  # the reference truncates, we round


def test_sigterm_saves_the_last_step_and_resume_finishes(trained, tmp_path):
    """`kill` (SIGTERM, as schedulers send) behaves like Ctrl-C: the step in progress finishes, a
    checkpoint of it is written, the exit status is 143 (128 + SIGTERM), and --resume completes
    the run (docs/stops-and-resume.md; bit-exactness: tests/test_stops.py, test_fault_tolerance.py)."""
    import signal
    import time

    from i2i.engine import checkpoint as ckpt

    _, data, _ = trained
    run = tmp_path / "run"
    sets = [
        arg for s in [*TINY, "train.steps=100000", "train.checkpoint_every=100000"] for arg in ("--set", s)
    ]
    proc = subprocess.Popen(
        [
            str(BIN / "i2i-train"),
            "--plugin",
            "img2img",
            "--data",
            str(data),
            "--out",
            str(run),
            "--quiet",
            *sets,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    states = ckpt.list_states(run)
    assert len(states) == 1
    step = int(states[0].stem.split("-")[1])
    assert step >= 3 and ckpt.read_metadata(run / "model.safetensors")["step"] == str(step)
    _resume(data, run, f"train.steps={step + 2}")
    assert ckpt.read_metadata(run / "model.safetensors")["step"] == str(step + 2)


# ---- i2i data demo: a writer written from docs/hooks.md ------------------------------------------
def write_as_documented(out: Path, n: int = 3, seed: int = 0) -> None:
    """A demo writer exactly as docs/hooks.md describes it: `n` is an int it counts with."""
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (out / f"{seed}-{i}.txt").write_text(str(i))


def write_needing_n(out: Path, n: int, seed: int = 0) -> None:
    """A writer whose `n` has no default: the core's documented default count applies."""
    write_as_documented(out, n, seed)


def _demo_plugin(fresh_plugins, name: str, writer) -> None:
    from i2i import InputSpec, Modality, hookimpl

    modality = Modality(
        name=name,
        summary="a writer from the docs",
        inputs=[InputSpec("input")],
        config="unused:config.yaml",
        conditioner="unused:Conditioner",
        dataset="unused:Dataset",
        demo_data=writer,
    )

    class Plugin:
        @hookimpl
        def register_modalities(self, register):
            register(modality)

    fresh_plugins.register(Plugin(), name=name)


def _demo(argv: list[str]) -> int:
    from i2i.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


def test_data_demo_without_n_uses_the_writers_own_default(fresh_plugins, tmp_path, capsys):
    _demo_plugin(fresh_plugins, "documented", write_as_documented)
    assert _demo(["data", "demo", "documented", "--out", str(tmp_path / "a")]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["0-0.txt", "0-1.txt", "0-2.txt"]
    assert _demo(["data", "demo", "documented", "--out", str(tmp_path / "b"), "--n", "5", "--seed", "7"]) == 0
    assert len(list((tmp_path / "b").glob("7-*.txt"))) == 5
    assert "wrote documented demo data" in capsys.readouterr().out


def test_data_demo_without_n_passes_the_documented_default_to_a_writer_that_needs_n(fresh_plugins, tmp_path):
    from i2i.data.demo import DEFAULT_N

    _demo_plugin(fresh_plugins, "needs-n", write_needing_n)
    assert _demo(["data", "demo", "needs-n", "--out", str(tmp_path / "a")]) == 0
    assert len(list((tmp_path / "a").iterdir())) == DEFAULT_N


def test_data_demo_refuses_a_count_below_one_in_one_line(fresh_plugins, tmp_path, capsys):
    _demo_plugin(fresh_plugins, "documented", write_as_documented)
    assert _demo(["data", "demo", "documented", "--out", str(tmp_path / "a"), "--n", "0"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--n" in err
    assert not (tmp_path / "a").exists()
