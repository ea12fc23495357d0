"""Replacing a file atomically, in a folder other users may write to.

Every file the engine writes into a run directory (run states, the model file, config.yaml,
metrics, samples, report.html) and its precision cache goes through `write_atomic`: the bytes go
to a fresh temporary file in the same folder, are flushed to disk, the file is renamed over the
target and the folder itself is fsynced. So

- a kill at any moment (SIGKILL, power loss, a second Ctrl-C) leaves the old file or the new one,
  never a torn one; a failed write removes its temporary file;
- the rename survives a power loss: without the folder's fsync the new directory entry may still
  be in the page cache while the file's data is on disk, and after a crash the old name (or none)
  comes back;
- the temporary name is unpredictable and created with O_CREAT | O_EXCL (`tempfile.mkstemp`),
  which refuses an existing name and does not follow a symlink. A fixed name (`.config.yaml.tmp`)
  in a shared --out lets another user plant a symlink there and have the trainer write through it
  into any file the trainer may write.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def umask() -> int:
    """The process's umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable. Platforms that cannot open a folder (Windows) or
    file systems that refuse to fsync one skip it: the rename is still atomic there."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Replace `path` by what `write` writes into the open binary file it is given.

    The file gets the permissions of any new file (0666 minus the umask), not mkstemp's 0600:
    a model file or a report is meant to be read by others.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:  # the descriptor mkstemp opened: the name is never reopened
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    """`write_atomic` of UTF-8 text."""
    data = text.encode("utf-8")
    write_atomic(path, lambda fh: fh.write(data))
