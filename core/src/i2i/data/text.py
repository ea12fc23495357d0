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
import pickle
from pathlib import Path
from typing import Any

from i2i.errors import InputError

MAX_PICKLE_BYTES = 64 << 20
"""The largest name-list pickle read (64 MiB): more is not a list of file names."""


MAX_TEXT_BYTES = 256 << 20
"""The largest text side-car read by default (256 MiB: a metadata.jsonl of a million images);
readers of smaller files (one-sentence text files, prompt lists) pass a smaller `max_bytes`."""


def read_text(path: Path, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file of at most `max_bytes`, or InputError naming it (missing, a directory,
    too large, not UTF-8, unreadable). The size is checked before reading and the read stops one
    byte past the limit, so neither a huge file nor a device such as /dev/zero fills the memory."""
    path = Path(path)
    try:
        if path.is_dir():
            raise InputError(path, "is a directory, not a text file")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(path, f"is {size} bytes, more than the limit of {max_bytes} for this file")
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise InputError(path, f"is more than the limit of {max_bytes} bytes for this file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(path, "not a UTF-8 text file") from None


def read_lines(path: Path, max_lines: int, max_bytes: int = MAX_TEXT_BYTES) -> list[str]:
    """The non-blank lines of a UTF-8 text file (a prompt or a name a line), at most `max_lines`
    of them in a file of at most `max_bytes`; more, none, or an unreadable file is an InputError
    naming the file. Each line becomes work (a sample, an image), so the count is bounded here,
    before any of it starts."""
    lines = [line for line in read_text(path, max_bytes).splitlines() if line.strip()]
    if not lines:
        raise InputError(path, "has no non-blank line")
    if len(lines) > max_lines:
        raise InputError(path, f"has {len(lines)} lines, more than the limit of {max_lines}; split the file")
    return lines


def json_rows(path: Path, key: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file whose objects must carry
    the string `key`; any other line (malformed or hostile JSON as `i2i.data.jsonfile.parse_json`
    refuses it, or another shape) is an InputError naming the file and the line."""
    from i2i.data.jsonfile import parse_json  # here: i2i.data.jsonfile reads through read_text

    rows = []
    for line_no, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = parse_json(line, path)
        except InputError as exc:
            raise InputError(path, f"line {line_no}: {exc.problem}") from None
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
