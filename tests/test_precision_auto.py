"""`train.precision: auto` is decided by timing the actual model (on copies) when a new run starts,
cached per machine and model shape; a resumed run keeps the precision its run state recorded."""

from __future__ import annotations

import json

import torch

from i2i.config import load_config
from i2i.engine import checkpoint as ckpt
from i2i.engine.device import precision_candidates
from i2i.engine.trainer import Trainer
from i2i.plugins import get_modality

from tiny import TINY


def _trainer(data, run, *extra):
    modality = get_modality("img2img")
    return Trainer(
        load_config(modality, sets=[*TINY, "train.precision=auto", *extra]),
        modality,
        data,
        run,
        progress=False,
    )


def test_auto_precision_is_measured_cached_and_kept_on_resume(demo_data, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    trainer = _trainer(demo_data, tmp_path / "run", "train.steps=2")
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    rng = torch.get_rng_state()
    trainer._measure_precision()
    # timing ran on copies: the real weights and the RNG are untouched
    assert all(torch.equal(v, trainer.generator.state_dict()[k]) for k, v in before.items())
    assert torch.equal(rng, torch.get_rng_state())
    cache = json.loads((tmp_path / "cache" / "i2i" / "precision.json").read_text())
    (entry,) = cache["entries"].values()
    names = [p.name for p in precision_candidates(trainer.device)]
    assert set(entry["timings"]) == set(names) and all(v > 0 for v in entry["timings"].values())
    assert trainer.precision.name == entry["choice"] in names

    trainer.fit()
    state = ckpt.load_state(ckpt.list_states(tmp_path / "run")[-1])
    assert state["precision"] == entry["choice"]
    # another answer in the cache: a new run follows the cache, a resumed run its own state
    other = next((n for n in names if n != entry["choice"]), entry["choice"])
    entry["choice"] = other
    (tmp_path / "cache" / "i2i" / "precision.json").write_text(json.dumps(cache))
    fresh = _trainer(demo_data, tmp_path / "run2", "train.steps=1")
    fresh.fit()
    assert fresh.precision.name == other
    resumed = _trainer(demo_data, tmp_path / "run", "train.steps=3")
    resumed.fit(resume=True)
    assert resumed.precision.name == state["precision"]
