from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("I2I_TEST", "1")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fresh_plugins(monkeypatch):
    """A clean plugin manager for the test, restored afterwards."""
    from i2i import plugins

    for var in ("I2I_LOAD_PLUGINS", "I2I_DISABLE_PLUGINS", "I2I_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    yield plugins
    plugins.reset()


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """A tiny img2img demo data set (procedural facades), written once per session."""
    from i2i_img2img.demo import write_demo

    out = tmp_path_factory.mktemp("demo")
    write_demo(out, n=24, seed=0, size=64)
    return out


@pytest.fixture
def sigint_default():
    """SIGINT as in an interactive Python (KeyboardInterrupt), for tests that send Ctrl-C to their
    own process: a test run started in the background (`nohup`, `&`) inherits SIGINT ignored, and
    the trainer leaves an ignored signal ignored."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
