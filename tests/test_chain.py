"""Chains (`i2i-run ... --then SPEC`): a chain gives what running its stages one after the other
gives, for an image, a folder and a video; frames stream through every stage a chunk at a time;
each stage keeps its own temporal state; a stage that cannot take an image is one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from i2i.chain import Chain, quantize
from i2i.cli.main import _guard, run_command
from i2i.data.video import VideoWriter, iter_video_frames
from i2i.pipeline import _collate, load_pipeline, run_files

from tiny import tiny_model_file


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Stage A: a model file; stage B: a run directory (model.safetensors inside); both tiny
    U-Nets drawn from different seeds; TA and TB are temporal, the previous frame weighing ~0.9."""
    root = tmp_path_factory.mktemp("chain-models")
    (root / "run-b").mkdir()
    return {
        "A": tiny_model_file(root / "a.safetensors", seed=1),
        "B": tiny_model_file(root / "run-b" / "model.safetensors", seed=2).parent,
        "TA": tiny_model_file(root / "ta.safetensors", seed=3, sets=["temporal.enabled=true"], mask_bias=2),
        "TB": tiny_model_file(root / "tb.safetensors", seed=4, sets=["temporal.enabled=true"], mask_bias=2),
    }


def _photo(path, size=(48, 40), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(path)
    return path


def _video(path, n=7, size=(48, 32)):
    """A smooth moving pattern, easy for the codec (so a decoded frame is close to the written one)."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size[1]), torch.linspace(-1, 1, size[0]), indexing="ij")
    frames = [torch.stack([(xs + t / 10).sin(), (ys * 2 - t / 7).cos(), xs * ys]) * 0.8 for t in range(n)]
    with VideoWriter(path, fps=10) as writer:
        writer.write(torch.stack(frames))
    return path


def _run(*argv):
    rc = _guard(run_command, [str(a) for a in argv])
    assert rc == 0
    return rc


def _array(path):
    return np.asarray(Image.open(path)).astype(int)


def _frames(path):
    return torch.cat(list(iter_video_frames(path)))


def test_a_chain_equals_running_its_stages_one_after_the_other_on_an_image(models, tmp_path):
    src = _photo(tmp_path / "in.png")
    _run("--checkpoint", models["A"], "--input", src, "--out", tmp_path / "a.png")
    _run("--checkpoint", models["B"], "--input", tmp_path / "a.png", "--out", tmp_path / "ab.png")
    _run(
        "--plugin",
        "img2img",
        "--model",
        "sr-x4",
        "--input",
        tmp_path / "ab.png",
        "--out",
        tmp_path / "abs.png",
    )
    chain = tmp_path / "chain.png"
    _run(
        "--checkpoint",
        models["A"],
        "--then",
        models["B"],
        "--then",
        "img2img:sr-x4",
        "--input",
        src,
        "--out",
        chain,
    )
    assert _array(chain).shape == (160, 192, 3)  # x4 at the end
    assert (_array(chain) == _array(tmp_path / "abs.png")).all()
    assert np.abs(_array(tmp_path / "ab.png") - _array(tmp_path / "a.png")).mean() > 5  # B did something


def test_a_chain_equals_running_its_stages_one_after_the_other_on_a_folder(models, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate([(48, 40), (48, 40), (40, 56)]):  # two batch together, one alone
        _photo(folder / f"p{i}.png", size, seed=i)
    _run("--checkpoint", models["A"], "--input", folder, "--out", tmp_path / "a", "--batch-size", 2)
    _run("--checkpoint", models["B"], "--input", tmp_path / "a", "--out", tmp_path / "ab")
    _run("--checkpoint", models["A"], "--then", models["B"], "--input", folder, "--out", tmp_path / "chain")
    names = sorted(p.name for p in (tmp_path / "ab").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "chain").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    for name in names:
        assert (_array(tmp_path / "chain" / name) == _array(tmp_path / "ab" / name)).all(), name


def _coarse(frames):
    return torch.nn.functional.avg_pool2d(frames, 4)


def _reference(pipes, frames):
    """Frames through each pipeline in turn, one video stream per stage, with no codec between."""
    images = frames
    for i, pipe in enumerate(pipes):
        state = pipe.new_state()
        samples = [pipe.prepare({"input": f}, state) for f in (quantize(images) if i else images)]
        if pipe.temporal:
            images = pipe.generate_frames(samples, {}, seed=0)
        else:
            images = pipe.generate(_collate(samples), seed=0)
    return images


def _record_written(monkeypatch):
    """The frames handed to the video writer (before the codec), in order."""
    written = []
    real = VideoWriter.write

    def write(self, frames):
        written.append(frames.clone())
        return real(self, frames)

    monkeypatch.setattr(VideoWriter, "write", write)
    return written


def test_a_chain_on_a_video_streams_chunks_through_every_stage(models, tmp_path, monkeypatch):
    src = _video(tmp_path / "in.mp4")
    chain = load_pipeline(models["A"], then=[str(models["B"])], device="cpu")
    assert isinstance(chain, Chain) and len(chain.pipelines) == 2
    calls = []
    for name, pipe in zip("AB", chain.pipelines):
        real = pipe.generate

        def recording(batch, *args, _real=real, _name=name, **kwargs):
            out = _real(batch, *args, **kwargs)
            calls.append((_name, out.shape[0]))
            return out

        pipe.generate = recording
    out = tmp_path / "chain.mp4"
    written = _record_written(monkeypatch)
    run_files(chain, {"input": str(src)}, out, batch_size=3, seed=0)
    monkeypatch.undo()
    # chunk by chunk through both stages, never the whole clip at once
    assert calls == [("A", 3), ("B", 3), ("A", 3), ("B", 3), ("A", 1), ("B", 1)]
    got = _frames(out)
    want = _reference(chain.pipelines, _frames(src))
    assert got.shape == want.shape == (7, 3, 32, 48)
    assert torch.allclose(torch.cat(written), want, atol=1e-4)  # the same frames, before the codec
    # the same as two runs of i2i-run, up to the codec's pass over the middle video (which blurs
    # the colours of these noisy images: compared at 1/4 size, where the codec keeps them)
    _run("--checkpoint", models["A"], "--input", src, "--out", tmp_path / "a.mp4", "--seed", 0)
    _run(
        "--checkpoint", models["B"], "--input", tmp_path / "a.mp4", "--out", tmp_path / "ab.mp4", "--seed", 0
    )
    two = _frames(tmp_path / "ab.mp4")
    assert (_coarse(got) - _coarse(two)).abs().mean() < 0.03
    assert (
        _coarse(got) - _coarse(_reference(chain.pipelines[:1], _frames(src)))
    ).abs().mean() > 0.06  # bites


def test_each_stage_keeps_its_own_temporal_state_across_chunks(models):
    chain = load_pipeline(models["TA"], then=[str(models["TB"])], device="cpu")
    ta, tb = chain.pipelines
    assert ta.temporal and tb.temporal
    frames = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    state, stream, outs = {}, chain.new_state(), []
    for start in range(0, 6, 2):  # chunks of two frames, as run_files streams them
        samples = [chain.prepare({"input": f}, stream) for f in frames[start : start + 2]]
        outs.append(chain.generate_frames(samples, state, seed=0))
    got = torch.cat(outs)
    want = _reference([ta, tb], frames)  # each stage its own stream over the whole clip
    assert torch.allclose(got, want, atol=1e-5)
    # what would happen if stage B forgot its previous frame at each chunk (shows the test bites)
    mid = _reference([ta], frames)
    forgetful = torch.cat([_reference([tb], mid[s : s + 2]) for s in range(0, 6, 2)])
    assert (forgetful - want).abs().mean() > 0.01
    # ... or if it saw stage A's previous output instead of its own
    shared = {}
    wrong = []
    for f in quantize(mid):
        tb_samples = [tb.prepare({"input": f})]
        wrong.append(tb.generate_frames(tb_samples, shared, seed=0))
        shared["previous"] = ta.generate_frames([ta.prepare({"input": f})], {}, seed=0)
    assert (torch.cat(wrong) - want).abs().mean() > 0.01


def test_a_temporal_chain_runs_on_a_video_from_the_command_line(models, tmp_path, monkeypatch):
    src = _video(tmp_path / "in.mp4", n=5)
    out = tmp_path / "out.mp4"
    written = _record_written(monkeypatch)
    _run(
        "--checkpoint", models["TA"], "--then", models["TB"], "--input", src, "--out", out, "--batch-size", 2
    )
    monkeypatch.undo()
    want = _reference(load_pipeline(models["TA"], then=[str(models["TB"])]).pipelines, _frames(src))
    assert [len(w) for w in written] == [2, 2, 1] and _frames(out).shape == want.shape
    assert torch.allclose(torch.cat(written), want, atol=1e-4)


@pytest.mark.parametrize("spec", ["seg2img", "text2img"])
def test_a_stage_that_cannot_take_an_image_is_one_line(models, tmp_path, capsys, spec):
    src = _photo(tmp_path / "in.png")
    out = tmp_path / "out.png"
    rc = _guard(
        run_command,
        ["--checkpoint", str(models["A"]), "--then", spec, "--input", str(src), "--out", str(out)],
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"--then {spec}: plugin {spec} takes" in err and "cannot follow another stage" in err
    assert not out.exists()


def test_a_later_stage_gets_the_defaults_of_its_other_inputs():
    """unpaired takes --input and --direction (default AtoB): it can follow another stage."""
    from i2i.chain import image_input
    from i2i.plugins import get_modality

    assert image_input(get_modality("unpaired")).name == "input"
    assert image_input(get_modality("img2img")).name == "input"
    assert image_input(get_modality("seg2img")) is None and image_input(get_modality("pose2img")) is None
