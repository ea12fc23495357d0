"""Text side-car files of a data set (descriptions, prompt lists, metadata), read robustly.

Data sets carry text beside their images: one description a line, a JSON-lines metadata file
(Hugging Face imagefolder's `metadata.jsonl`), a list of prompts, the names of a split as a pickled
list (`train/filenames.pickle`, as several published benchmarks ship them). A plugin should not
have to write the error handling again: every problem (missing, not UTF-8, unreadable, a bad JSON
line, a pickle that is not a plain list of names) becomes one `InputError` naming the file (and the
line), never a traceback from inside a DataLoader worker. Pickles are read without executing
anything: a downloaded data set is untrusted input.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

from i2i.errors import InputError

MAX_PICKLE_BYTES = 64 << 20
"""The largest name-list pickle read (64 MiB): more is not a list of file names."""


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


class _NoGlobals(pickle.Unpickler):
    """An unpickler that builds only plain containers and scalars: any class or function (os.system,
    builtins.eval, ...) is refused before it is looked up, so nothing in the file can be called."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refuses to load the global {module}.{name}")


def read_name_list(path: Path) -> list[str]:
    """The list of names (str, or UTF-8 bytes) in a pickled split file such as `filenames.pickle`,
    read by an unpickler that refuses every class and function, so nothing in the file runs;
    anything else is an InputError naming it."""
    try:
        size = path.stat().st_size
        if size > MAX_PICKLE_BYTES:
            raise InputError(path, f"is {size} bytes, too large for a list of file names")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        value = _NoGlobals(io.BytesIO(raw), encoding="utf-8").load()
    except pickle.UnpicklingError as exc:
        raise InputError(path, f"not a plain list of file names: {exc}") from None
    except Exception as exc:
        raise InputError(path, f"not a readable pickle ({type(exc).__name__})") from None
    if not isinstance(value, list):
        raise InputError(path, f"must hold a list of file names, not a {type(value).__name__}")
    names = []
    for item in value:
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(path, "holds a file name that is not UTF-8") from None
        if not isinstance(item, str):
            raise InputError(path, f"must hold a list of file names, found a {type(item).__name__}")
        names.append(item)
    return names
