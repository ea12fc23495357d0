"""The one header every evaluator's result has, so that `i2i eval --json` reads alike for every plugin.

    {
      "plugin": "<modality>",            # the modality evaluated
      "checkpoint": "runs/scenes",       # what was loaded (model file, run directory, plugin name)
      "data": "scenes",                  # the data directory
      "split": "test",                   # the split scored
      "n": 20,                           # how many samples were scored
      "metrics": {...},                  # the plugin's own numbers (model, references, ceilings)
      "notes": "what each number means",
      "provenance": {"i2i": "0.1.0", "plugin_distribution": "i2i-<modality>", "plugin_version": "0.1.0",
                     "torch": "2.x", "device": "cpu", "evaluated_at": "2025-01-01T00:00:00Z"}
    }

An evaluator builds it with `evaluation(...)`; `i2i eval` puts the result of an evaluator written
before this header (any other dict) under `metrics` with `conform`, so its output has the header too.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HEADER = ("plugin", "checkpoint", "data", "split", "n", "metrics", "notes", "provenance")
COUNT_KEYS = ("n", "images", "pairs")  # what evaluators called the sample count before the header


def provenance(pipe: Any) -> dict[str, Any]:
    """Where the numbers come from: i2i's and the plugin's versions, torch's, the device, the time."""
    import torch

    from i2i import __version__
    from i2i.plugins import get_manager

    manager = get_manager()
    name = pipe.modality.name
    distribution, version = "(unknown)", "(unknown)"
    try:
        distribution = manager.distribution_of(name)
        version = next((i.version for i in manager.plugins() if i.distribution == distribution), version)
    except KeyError:  # a modality not registered with the manager (built by hand in a notebook)
        pass
    return {
        "i2i": __version__,
        "plugin_distribution": distribution,
        "plugin_version": version,
        "torch": torch.__version__,
        "device": str(pipe.device),
        "evaluated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def evaluation(
    pipe: Any, data: str | Path, split: str, n: int, metrics: Mapping[str, Any], notes: str = ""
) -> dict[str, Any]:
    """An evaluator's result: the common header around the plugin's own `metrics`."""
    return {
        "plugin": pipe.modality.name,
        "checkpoint": pipe.source,
        "data": str(data),
        "split": split,
        "n": int(n),
        "metrics": dict(metrics),
        "notes": notes,
        "provenance": provenance(pipe),
    }


def conform(pipe: Any, data: str | Path, split: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """A result with the header as is; any other dict (an evaluator written before the header)
    wrapped into it: its count (`n`, `images` or `pairs`) and `metric_notes` lifted into the
    header, everything else under `metrics`."""
    if set(result) == set(HEADER):
        return dict(result)
    rest = {k: v for k, v in result.items() if k not in ("plugin", "checkpoint", "data", "split")}
    count = next((rest.pop(k) for k in COUNT_KEYS if k in rest), 0)
    notes = str(rest.pop("metric_notes", rest.pop("notes", "")))
    return evaluation(pipe, data, split, int(count), rest, notes)


def flat(result: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys ("metrics.model.l1"), for `i2i eval` without --json."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out
