"""Errors the command line turns into exit status 2 with one line (bad usage or bad input)."""

from __future__ import annotations

from pathlib import Path


class I2IError(Exception):
    """Base of the user-facing errors: the message is one line, fit to print without a traceback."""


class InputError(I2IError):
    """A file the user gave is unreadable, malformed or unsupported. The message names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(I2IError):
    """A config key, value or file is wrong."""
