"""One trainer per run directory.

Two trainings writing the same checkpoints, samples and model file would corrupt each other's
runs silently. The trainer holds `RUN_DIR/train.lock` (created exclusively, holding "pid@host")
while it runs; a second trainer refuses with one line. A lock left by a killed process (SIGKILL,
power loss) is detected by its pid being gone on this host and taken over with a notice, so
`--resume` after a crash just works.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from types import TracebackType

from i2i.errors import I2IError

log = logging.getLogger("i2i.train")
LOCK_NAME = "train.lock"


def _owner(path: Path) -> tuple[int | None, str]:
    try:
        pid, _, host = path.read_text(encoding="utf-8").strip().partition("@")
        return int(pid), host
    except (OSError, ValueError):
        return None, ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME

    def acquire(self) -> None:
        me = f"{os.getpid()}@{socket.gethostname()}"
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid, host = _owner(self.path)
                if host and host != socket.gethostname():
                    raise I2IError(
                        f"{self.run_dir}: in use by a training on {host} (pid {pid}); "
                        f"if that run is dead, delete {self.path}"
                    ) from None
                if pid is not None and _alive(pid):
                    raise I2IError(
                        f"{self.run_dir}: in use by another training (pid {pid}); wait for it or pick another --out"
                    ) from None
                log.warning("taking over %s from a training that is gone (pid %s)", self.path, pid)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(me + "\n")
            return
        raise I2IError(f"{self.path}: cannot take the run-directory lock")

    def release(self) -> None:
        pid, _ = _owner(self.path)
        if pid == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
