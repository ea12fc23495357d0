"""i2i.data.video: streaming decode, atomic encode, bad files -> InputError."""

from __future__ import annotations

import inspect

import pytest
import torch

from i2i.data import video
from i2i.data.video import VideoInfo, VideoWriter, iter_video_frames, probe_video
from i2i.errors import InputError


def smooth_frames(n: int, height: int, width: int, start: int = 0) -> torch.Tensor:
    """Moving colour gradients: easy for a codec, so the round trip error measures our handling."""
    ys = torch.linspace(-1, 1, height).view(height, 1)
    xs = torch.linspace(-1, 1, width).view(1, width)
    frames = []
    for i in range(start, start + n):
        shift = i / 50
        frames.append(
            torch.stack(
                [(xs + shift).expand(height, width), (ys - shift).expand(height, width), 0.5 * (xs * ys)]
            )
        )
    return torch.stack(frames).clamp(-1, 1)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".avi", ".mov"])
def test_round_trip(tmp_path, suffix):
    frames = smooth_frames(12, 32, 48)
    path = tmp_path / "sub" / f"clip{suffix}"
    with VideoWriter(path, fps=24) as writer:
        writer.write(frames[:5])
        writer.write(frames[5])  # a single (3,H,W) frame
        writer.write(frames[6:])
    assert writer.frames_written == 12 and leftovers(path.parent) == [path.name]
    info = probe_video(path)
    assert (info.fps, info.width, info.height) == (24.0, 48, 32)
    assert info.frames in (12, None)  # Matroska/WebM store no count
    chunks = list(iter_video_frames(path, chunk_size=5))
    assert [c.shape for c in chunks] == [(5, 3, 32, 48), (5, 3, 32, 48), (2, 3, 32, 48)]
    got = torch.cat(chunks)
    assert got.dtype == torch.float32 and got.min() >= -1 and got.max() <= 1
    assert (got - frames).abs().mean() < 0.1


def test_odd_sizes_are_padded_by_repeating_the_edge(tmp_path):
    frames = smooth_frames(3, 33, 47)
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, fps=30000 / 1001) as writer:
        writer.write(frames)
    info = probe_video(path)
    assert (info.width, info.height, info.frames) == (48, 34, 3)
    assert abs(info.fps - 29.97) < 1e-3
    got = torch.cat(list(iter_video_frames(path)))
    assert (got[:, :, :33, :47] - frames).abs().mean() < 0.1
    assert (got[:, :, :33, 47] - frames[:, :, :, 46]).abs().mean() < 0.1  # the pad repeats the edge


def test_reading_is_lazy_and_streams_in_chunks(tmp_path, monkeypatch):
    path = tmp_path / "long.mp4"
    with VideoWriter(path, fps=30) as writer:
        for start in range(0, 300, 30):
            writer.write(smooth_frames(30, 24, 32, start))
    assert probe_video(path).frames == 300

    decoded = []
    real_open = video.av.open

    class CountingContainer:
        """The real container, counting the frames its decoder has produced so far."""

        def __init__(self, container):
            self.container = container
            self.streams = container.streams

        def decode(self, *args, **kwargs):
            for frame in self.container.decode(*args, **kwargs):
                decoded.append(1)
                yield frame

        def close(self):
            self.container.close()

        def __getattr__(self, name):  # format, duration...: the real container's
            return getattr(self.container, name)

    monkeypatch.setattr(video.av, "open", lambda *a, **k: CountingContainer(real_open(*a, **k)))
    frames = iter_video_frames(path, chunk_size=8)
    assert inspect.isgenerator(frames) and not decoded  # nothing read before iteration
    first = next(frames)
    assert first.shape == (8, 3, 24, 32) and len(decoded) == 8  # one chunk decoded, not the video
    sizes = [first.shape[0]] + [chunk.shape[0] for chunk in frames]
    assert sum(sizes) == 300 and max(sizes) == 8 and len(decoded) == 300
    expected_last = smooth_frames(4, 24, 32, 296)
    assert (torch.cat(list(iter_video_frames(path, chunk_size=64)))[-4:] - expected_last).abs().mean() < 0.1


def test_exception_inside_the_block_leaves_no_file(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), VideoWriter(path, fps=10) as writer:
        writer.write(smooth_frames(80, 16, 16))  # enough for packets to reach the temporary file
        raise RuntimeError("model crashed")
    assert leftovers(tmp_path) == []

    with VideoWriter(path, fps=10) as writer:
        writer.write(smooth_frames(2, 16, 16))
    old = path.read_bytes()
    with pytest.raises(ValueError, match="frame size changed"), VideoWriter(path, fps=10) as writer:
        writer.write(smooth_frames(4, 16, 16))
        writer.write(smooth_frames(4, 32, 32))
    assert leftovers(tmp_path) == ["out.mp4"] and path.read_bytes() == old  # the old file is kept


def test_writer_refuses_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="no frames"), VideoWriter(tmp_path / "empty.mp4", fps=10):
        pass
    with pytest.raises(InputError, match="video suffix"):
        VideoWriter(tmp_path / "clip.png", fps=10)
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "clip.mp4", fps=0)
    with pytest.raises(ValueError), VideoWriter(tmp_path / "clip.mp4", fps=10) as writer:
        writer.write(torch.zeros(2, 4, 8, 8))
    assert leftovers(tmp_path) == []


def test_codec_fallback(tmp_path, monkeypatch):
    assert VideoWriter(tmp_path / "a.mp4", fps=10, codec="no-such-codec").codec == "libx264"
    available = video._available
    monkeypatch.setattr(video, "_available", lambda name: name != "libx264" and available(name))
    path = tmp_path / "b.mp4"
    with VideoWriter(path, fps=10) as writer:
        writer.write(smooth_frames(6, 32, 32))
    assert writer.codec == "mpeg4"
    assert (torch.cat(list(iter_video_frames(path))) - smooth_frames(6, 32, 32)).abs().mean() < 0.1


def test_bad_video_files_raise_input_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 10)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path, problem in [
        (text, "not a readable video"),
        (empty, "empty file"),
        (tmp_path / "missing.mp4", "no such file"),
        (tmp_path, "directory"),
    ]:
        with pytest.raises(InputError, match=problem) as info:
            probe_video(path)
        assert str(info.value).startswith(f"{path}: ")
        with pytest.raises(InputError, match=problem):
            list(iter_video_frames(path))
    with pytest.raises(InputError, match="no such file"):
        iter_video_frames(tmp_path / "missing.mp4")  # at the call, before any iteration
    with pytest.raises(ValueError):
        iter_video_frames(text, chunk_size=0)
    assert VideoInfo(25.0, None, 2, 2).frames is None


def test_a_writer_dropped_without_close_removes_its_temporary_file(tmp_path):
    import gc

    writer = VideoWriter(tmp_path / "dropped.mp4", fps=10)
    writer.write(smooth_frames(80, 16, 16))  # past the encoder's look-ahead, so packets reach the file
    assert len(leftovers(tmp_path)) == 1  # the hidden temporary file
    del writer
    gc.collect()
    assert leftovers(tmp_path) == []
