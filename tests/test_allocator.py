"""`i2i.allocator.keep_freed_memory`: after it, a large tensor freed and allocated again reuses the
same pages (no page faults), where glibc's default unmaps it and faults every page back in; the
inference commands call it before they run; I2I_MALLOC=system leaves malloc alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from i2i.cli import main as cli

_PROBE = r"""
import json, resource
from i2i.allocator import keep_freed_memory
kept = keep_freed_memory()
import torch
x = torch.rand(1, 64, 384, 384)  # a 36 MiB feature map: above glibc's largest mmap threshold
faults = []
for _ in range(4):  # a dense block's pattern: growing concatenations, thin outputs, all freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    feats = [x]
    for _ in range(4):
        feats.append(torch.cat(feats, 1)[:, :32] * 0.5)
    torch.cat(feats, 1).sum()
    del feats
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"kept": kept, "faults": faults}))
"""


def _probe(malloc: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "I2I_MALLOC"}
    if malloc is not None:
        env["I2I_MALLOC"] = malloc
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_feature_maps_are_reused_instead_of_faulted_back_in():
    """Each pass allocates 12 blocks of 18-180 MiB (about 440 MiB, 110,000 pages) and frees them.
    glibc's default faults every page of every pass back in; kept, the passes after the first
    reuse most of the pages (measured: a quarter of the faults)."""
    channels = 64 + 96 + 128 + 160 + 192 + 4 * 32  # the five concatenations and four thin outputs
    written = channels * 384 * 384 * 4 // os.sysconf("SC_PAGE_SIZE")
    kept, system = _probe(None), _probe("system")
    assert system["kept"] is False
    if not sys.platform.startswith("linux"):  # no glibc: it must say it changed nothing
        assert kept["kept"] is False
        return
    assert kept["kept"] is True
    steady_kept, steady_system = sum(kept["faults"][1:]), sum(system["faults"][1:])
    assert min(system["faults"]) > 0.5 * written  # the problem: every pass pays its pages again
    assert steady_kept < 0.5 * steady_system


def test_the_inference_commands_keep_freed_memory_first(monkeypatch):
    """i2i-run and i2i call it before their command runs; i2i-train does not (see i2i.allocator)."""
    calls: list[str] = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("kept") or True)
    for name, entry in (("run", "run_command"), ("i2i", "i2i_command"), ("train", "train_command")):
        monkeypatch.setattr(cli, entry, lambda args, name=name: calls.append(name) or 0)
    for main in (cli.run_main, cli.main, cli.train_main):
        with pytest.raises(SystemExit) as stop:
            main([])
        assert stop.value.code == 0
    assert calls == ["kept", "run", "kept", "i2i", "train"]
