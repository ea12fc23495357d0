"""Errors the command line turns into exit status 2 with one line (bad usage or bad input)."""

from __future__ import annotations

from pathlib import Path


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


class I2IError(Exception):
    """Base of the user-facing errors: the message is one line, fit to print without a traceback.

    Messages often quote a library's own error text, which may span lines; it is folded into one
    here, once, rather than by every reader."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (_one_line(args[0]),)
        super().__init__(*args)


class InputError(I2IError):
    """A file the user gave is unreadable, malformed or unsupported. The message names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = _one_line(str(problem))
        super().__init__(f"{self.path}: {self.problem}")


class ConfigError(I2IError):
    """A config key, value or file is wrong."""
