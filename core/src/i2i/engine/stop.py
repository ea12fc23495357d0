"""Stopping a training run at a step boundary: SIGTERM and Ctrl-C (SIGINT).

Schedulers stop jobs with SIGTERM (SLURM on preemption or at the time limit, `kill`, `docker stop`,
Kubernetes), people with Ctrl-C. Either only *requests* a stop here: the handler records the signal
and returns, the step in progress runs to its end (every optimiser applied, EMA updated, step
counter and data position advanced), and the training loop then saves the run state of that
completed step and raises `TrainingStopped`. Raising from the handler (Python's own Ctrl-C) would
land anywhere, for instance after D's update and before the step counter moved, and a run state
saved then resumes into a run that differs from the uninterrupted one.

A second signal while a stop is pending aborts at once (`TrainingStopped` with `checkpoint`
None), for a step or a save that takes too long. Nothing torn is left: every file the engine
writes is replaced atomically (`i2i.engine.atomic`), so the run keeps its last complete
checkpoint.

`TrainingStopped` is a KeyboardInterrupt (code that catches Ctrl-C catches it) whose
`exit_status` is the shell's convention for a death by that signal: 130 after SIGINT, 143 after
SIGTERM. Handlers are installed only from the main thread (Python allows no other), and a signal
the process inherited as ignored (`nohup`, background jobs of a non-interactive shell ignore
SIGINT) stays ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class TrainingStopped(KeyboardInterrupt):
    """Training stopped on a signal: after saving the completed `step` (`checkpoint`, the run
    state; None when a second signal aborted, or nothing was trained yet)."""

    def __init__(self, signum: int, step: int | None, checkpoint: Path | None) -> None:
        self.signum = signum
        self.step = step
        self.checkpoint = checkpoint
        name = signal_name(signum)
        if checkpoint is not None:
            text = f"{name}: stopped after step {step}; saved {checkpoint}"
        elif step is None:
            text = f"{name} again: aborted without saving; the last checkpoint stays"
        else:
            text = f"{name}: stopped at step {step}; nothing new to save"
        super().__init__(text)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class StopRequests:
    """While entered, SIGINT and SIGTERM request a stop (`requested`, `signum`) instead of
    raising; a second one raises `TrainingStopped` at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        """What the handler does on the first signal (tests and tools may call it too)."""
        self.signum = signum

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise TrainingStopped(signum, None, None)
        self.request(signum)
        again = "Ctrl-C" if signum == signal.SIGINT else signal_name(signum)
        message = f"{signal_name(signum)}: stopping after this step, then saving (again {again}: abort without saving)\n"
        with contextlib.suppress(OSError):  # os.write, not print/logging: a handler may run inside either
            os.write(2, message.encode())

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            if current is signal.SIG_IGN:
                continue
            self._previous[signum] = current
            signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
