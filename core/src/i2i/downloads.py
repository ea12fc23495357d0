"""Whether loading a model may fetch files from the network.

A model file names the parts it needs beside its weights (a text encoder on the Hugging Face Hub,
say). Loaded from a file the user downloaded, that name is the file author's choice, not the
user's: i2i must not download, and run, whatever a file names. So while a model file is being
built (`from_model_file()`, used by `i2i.pipeline`), `downloads_allowed()` is False unless the
user set ``I2I_ALLOW_DOWNLOADS=1``; a part that would need the network then fails in one line
that says so. Training from the user's own config is the user's choice and may download.

A plugin reads `downloads_allowed()` when it is constructed (the decision belongs to the load, not
to the later moment a lazily loaded part is first used) and passes `local_files_only=True` to
`from_pretrained` and the like when it is False.

This module imports no torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ENV = "I2I_ALLOW_DOWNLOADS"
_allowed: ContextVar[bool] = ContextVar("i2i_downloads_allowed", default=True)


def downloads_allowed() -> bool:
    """May the code running now fetch files from the network?"""
    return _allowed.get()


def user_allows_downloads() -> bool:
    """``I2I_ALLOW_DOWNLOADS`` set to anything but empty / 0 / false / no."""
    return os.environ.get(ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextmanager
def from_model_file() -> Iterator[None]:
    """Inside: downloads only if the user allowed them (``I2I_ALLOW_DOWNLOADS=1``)."""
    token = _allowed.set(user_allows_downloads())
    try:
        yield
    finally:
        _allowed.reset(token)


__all__ = ["ENV", "downloads_allowed", "from_model_file", "user_allows_downloads"]
