"""Text side-car files of a data set (descriptions, prompt lists, metadata), read robustly.

Data sets carry text beside their images: one description a line, a JSON-lines metadata file
(Hugging Face imagefolder's `metadata.jsonl`), a list of prompts. A plugin should not have to write
the error handling again: every problem (missing, not UTF-8, unreadable, a bad JSON line) becomes
one `InputError` naming the file (and the line), never a traceback from inside a DataLoader worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from i2i.errors import InputError


def read_text(path: Path) -> str:
    """A UTF-8 text file, or InputError naming it (missing, not UTF-8, unreadable)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a UTF-8 text file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None


def json_rows(path: Path, key: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file whose objects must carry
    the string `key`; any other line is an InputError naming the file and the line."""
    rows = []
    for line_no, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"line {line_no}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get(key), str):
            raise InputError(path, f"line {line_no}: expected an object with a {key!r} string")
        rows.append((line_no, row))
    return rows
