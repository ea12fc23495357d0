"""i2i: conditional image generation with GANs, where every kind of condition is a plugin.

Importing this package is cheap: torch-backed names (Conditioner, Generator, load_pipeline ...)
are resolved on first access, so `i2i plugins` and plugin modules stay torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from i2i.hookspecs import hookimpl
from i2i.modality import InputSpec, Modality

__version__ = "0.1.0"

_LAZY = {
    "Condition": "i2i.interfaces",
    "Conditioner": "i2i.interfaces",
    "Generator": "i2i.interfaces",
    "Discriminator": "i2i.interfaces",
    "DOutput": "i2i.interfaces",
    "IdentityConditioner": "i2i.interfaces",
    "load_pipeline": "i2i.pipeline",
    "Pipeline": "i2i.pipeline",
    "Trainer": "i2i.engine.trainer",
    "load_config": "i2i.config",
}

__all__ = ["InputSpec", "Modality", "hookimpl", "__version__", *_LAZY]

if TYPE_CHECKING:
    from i2i.config import load_config
    from i2i.engine.trainer import Trainer
    from i2i.interfaces import Condition, Conditioner, Discriminator, DOutput, Generator, IdentityConditioner
    from i2i.pipeline import Pipeline, load_pipeline


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'i2i' has no attribute {name!r}")
