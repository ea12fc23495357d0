"""One trainer per run directory.

Two trainings writing the same checkpoints, samples and model file would corrupt each other's
runs silently. The trainer holds `RUN_DIR/train.lock` (created exclusively) while it runs; a
second trainer refuses with one line. The lock names its owner as JSON: host, pid, the kernel's
boot id (`/proc/sys/kernel/random/boot_id`) and the process's start time (field 22 of
`/proc/<pid>/stat`, clock ticks since boot).

A pid alone does not name a process: pids are reused, and a container restarted after an OOM
kill has the same hostname and runs its trainer as pid 1 again, so "pid 1 is alive" would make
the run refuse itself forever. A lock is therefore stale, and taken over with a notice, when on
this host

- the recorded boot id is not this boot's (the machine rebooted: its processes are all gone), or
- the recorded pid is not running, or
- it runs but started at another time than recorded (the pid now belongs to another process).

A lock written on another host is never taken over (its processes cannot be seen from here): the
refusal names the file to delete. Locks of older versions ("pid@host") are read too; they carry no
start time, so only a dead pid makes them stale, or the pid being this very process, which cannot
have written a lock in the old format. Without /proc (macOS) boot id and start time are absent
and a lock is judged by its pid, as before.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from i2i.errors import I2IError

log = logging.getLogger("i2i.train")
LOCK_NAME = "train.lock"
FRESH_S = 2.0  # a lock younger than this that names no one is being written: wait for it


@dataclass(frozen=True)
class Owner:
    """Who holds a lock (None where the lock does not say or this system cannot tell)."""

    pid: int | None
    host: str
    boot_id: str | None = None
    start: int | None = None
    legacy: bool = False  # read from the older "pid@host" format

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "host": self.host, "boot_id": self.boot_id, "start": self.start})


def boot_id() -> str | None:
    """This boot of the kernel (changes at every reboot; the same in every container of a host)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (None: no such process or no /proc).
    The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return int(raw[raw.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def this_process() -> Owner:
    pid = os.getpid()
    return Owner(pid, socket.gethostname(), boot_id(), start_time(pid))


def read_owner(path: Path) -> Owner | None:
    """The lock's owner; None when the file is unreadable or names no pid (torn by a crash)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("{"):
        pid, _, host = text.partition("@")
        return Owner(int(pid), host, legacy=True) if pid.isdigit() else None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or type(data.get("pid")) is not int:
        return None
    boot, start, host = data.get("boot_id"), data.get("start"), data.get("host")
    return Owner(
        data["pid"],
        host if isinstance(host, str) else "",
        boot if isinstance(boot, str) else None,
        start if type(start) is int else None,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):  # not a pid this system can have
        return False
    return True


def stale_reason(owner: Owner | None, me: Owner) -> str | None:
    """Why the lock's owner is gone (None: it may be running; then the lock is respected).
    Only called for a lock of this host."""
    if owner is None or owner.pid is None or owner.pid <= 0:
        return "the lock names no process"
    if owner.boot_id and me.boot_id and owner.boot_id != me.boot_id:
        return f"pid {owner.pid} ran before this machine's last boot"
    if owner.legacy and owner.pid == me.pid:
        return f"pid {owner.pid} is this process now, which did not write it"
    if not _alive(owner.pid):
        return f"pid {owner.pid} is gone"
    if owner.start is not None:
        now = start_time(owner.pid)
        if now is not None and now != owner.start:
            return f"pid {owner.pid} is another process now (started later than the lock's owner)"
    return None


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.me = this_process()

    def _refusal(self, owner: Owner) -> I2IError:
        if owner.host and owner.host != self.me.host:
            return I2IError(
                f"{self.run_dir}: in use by a training on {owner.host} (pid {owner.pid}); "
                f"if that run is dead, delete {self.path}"
            )
        same = " (this very process)" if owner.pid == self.me.pid else ""
        return I2IError(
            f"{self.run_dir}: in use by another training (pid {owner.pid}{same}); "
            f"wait for it or pick another --out (if it is dead, delete {self.path})"
        )

    def _read_settled(self) -> Owner | None:
        """The owner, waiting a moment for a lock just created and not yet written (a trainer
        that started at the same instant), so that it is not taken for a torn one."""
        deadline = time.monotonic() + FRESH_S
        while True:
            owner = read_owner(self.path)
            try:
                young = time.time() - self.path.stat().st_mtime < FRESH_S
            except OSError:
                young = False
            if owner is not None or not young or time.monotonic() > deadline:
                return owner
            time.sleep(0.05)

    def acquire(self) -> None:
        for _ in range(3):
            try:
                # O_EXCL: fails on any existing name, a symlink included (never followed)
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._read_settled()
                if owner is not None and owner.host and owner.host != self.me.host:
                    raise self._refusal(owner) from None
                reason = stale_reason(owner, self.me)
                if reason is None and owner is not None:
                    raise self._refusal(owner) from None
                log.warning("taking over %s from a training that is gone (%s)", self.path, reason)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.me.to_json() + "\n")
            return
        raise I2IError(f"{self.path}: cannot take the run-directory lock")

    def release(self) -> None:
        owner = read_owner(self.path)
        if owner is not None and owner.pid == self.me.pid and owner.start == self.me.start:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
