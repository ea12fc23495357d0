"""The shipped default face2img model on a real photo of a real person (scikit-image's astronaut,
never seen in training): driven by a held-out demo clip, dlib still recognises her in every frame
and reads the driving expression off the output; `i2i-run --plugin face2img` works offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from i2i.pipeline import load_pipeline
from i2i_face2img.demo import face
from i2i_face2img.detect import SAME_PERSON
from i2i_face2img.evaluate import Judge, _video_scores, real_portrait

BIN = Path(sys.executable).parent
HELD_OUT_CLIP = 47  # the last test clip of `i2i data demo face2img --n 48 --seed 0`
SIZE = 64


def test_a_real_portrait_keeps_its_identity_and_takes_the_driving_expression():
    import torch

    pipe = load_pipeline("face2img", device="cpu")
    portrait, points = real_portrait(SIZE)
    frames = [face(0, HELD_OUT_CLIP, i, 128) for i in range(0, 16, 2)]
    clip = torch.stack([torch.from_numpy(np.asarray(Image.fromarray(f).resize((SIZE, SIZE)))).permute(2, 0, 1)
                        .float() / 127.5 - 1 for f, _ in frames])  # fmt: skip
    sequence = np.stack([(p + 0.5) * SIZE / 128 - 0.5 for _, p in frames]).astype(np.float32)
    scores = _video_scores(pipe, Judge(), portrait, points, clip, sequence)
    model, copy = scores["model"], scores["portrait_copy"]
    assert model["identity_distance"] < SAME_PERSON, scores  # dlib: still her
    assert model["landmark_nme"] < 0.6 * copy["landmark_nme"], scores  # the expression moved


def test_i2i_run_with_only_the_plugin_name_on_a_real_face(tmp_path):
    portrait, _ = real_portrait(SIZE)
    rgb = ((portrait.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    Image.fromarray(rgb).save(tmp_path / "me.png")
    Image.fromarray(rgb).rotate(5, resample=Image.Resampling.BICUBIC).save(tmp_path / "frame.png")
    out = tmp_path / "me_posed.png"
    cmd = [str(BIN / "i2i-run"), "--plugin", "face2img", "--portrait", str(tmp_path / "me.png"),
           "--driving", str(tmp_path / "frame.png"), "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (SIZE, SIZE)
