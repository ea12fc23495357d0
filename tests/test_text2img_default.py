"""The shipped default text2img model: runs offline from the plugin name, and draws what the
prompt says, as judged by the attribute classifier that `i2i eval` trains on the real demo birds
(a proxy judge; its weights for the default demo set are a test fixture, so this runs in seconds).

The fixture is the judge `i2i eval` trains and caches for `i2i data demo text2img --n 512 --seed 0`
(~/.cache/i2i/text2img/attribute-judge-<attributes hash>.safetensors); copy it again if the demo set or the
judge changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from i2i.pipeline import load_pipeline
from i2i_text2img.evaluate import HEADS, AttributeClassifier

FIXTURES = Path(__file__).parent / "fixtures"
BIN = Path(sys.executable).parent
SAMPLES = 8


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline("text2img", device="cpu")


@pytest.fixture(scope="module")
def judge():
    model = AttributeClassifier()
    model.load_state_dict(load_file(FIXTURES / "text2img-attribute-judge.safetensors"))
    return model.eval()


@torch.no_grad()
def _judged(pipe, judge, prompt: str) -> dict[str, list[str]]:
    images = pipe.generate({"caption": [prompt]}, num_samples=SAMPLES, seed=0)
    out = judge(images)
    return {k: [HEADS[k][i] for i in out[k].argmax(1).tolist()] for k in HEADS}


@pytest.mark.parametrize(
    ("prompt", "body", "beak"),
    [("red bird with short beak", "red", "short"), ("blue bird with long beak", "blue", "long")],
)
def test_the_issue_prompts_give_what_they_say(pipe, judge, prompt, body, beak):
    judged = _judged(pipe, judge, prompt)
    assert judged["body"].count(body) >= SAMPLES * 3 // 4, judged
    assert judged["beak_length"].count(beak) >= SAMPLES // 2, judged


def test_body_colour_follows_the_prompt_for_every_colour(pipe, judge):
    hits = 0
    for colour in HEADS["body"]:
        hits += _judged(pipe, judge, f"a {colour} bird")["body"].count(colour)
    assert hits / (SAMPLES * len(HEADS["body"])) >= 0.9  # chance is 1/9; the shipped model: 72/72


def test_i2i_run_prompt_only(tmp_path):
    out = tmp_path / "bird.png"
    cmd = [
        str(BIN / "i2i-run"),
        "--plugin",
        "text2img",
        "--prompt",
        "red bird with short beak",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    assert Image.open(out).size == (64, 64)
