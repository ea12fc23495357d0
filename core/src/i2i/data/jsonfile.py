"""JSON from user files, parsed with bounds: one reader for every keypoint, landmark and class file.

`json.loads` trusts its input more than a reader of downloaded files can: 100,000 nested `[` is a
RecursionError, a 5000-digit integer a ValueError (Python's int limit), `NaN` and `Infinity` are
accepted although JSON has no such numbers, `1e999` silently becomes infinity, and a file of any
size is read whole. Every reader of a user's JSON goes through `read_json` / `parse_json`, so each
of these is one `InputError` naming the file, decided here once rather than in each plugin:

- the file is at most `MAX_JSON_BYTES` (checked before reading, and never read past);
- nesting deeper than the parser's recursion allowance is refused ("nested too deeply");
- integers have at most `MAX_INT_DIGITS` digits, numbers are finite, NaN/Infinity are refused.

What a document must contain is the reader's business; `is_number` and `is_int` are the type
checks they share (a bool is not a number, although Python says it is an int).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from i2i.data.text import read_text
from i2i.errors import InputError

MAX_JSON_BYTES = 64 << 20
"""The largest JSON file read (64 MiB). Parsed, such a file of empty lists takes about 1.5 GB;
a keypoint, landmark or class file is kilobytes, a landmark cache of a 20,000-frame clip 60 MiB."""

MAX_INT_DIGITS = 20
"""The longest integer literal accepted: 20 digits hold every 64-bit value. Longer ones are no
pixel coordinate, class id or count, and Python refuses to convert 4300 digits and more anyway."""


class _Refused(ValueError):
    """A literal the hooks below refuse; carries the one-line reason."""


def _parse_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:24]}{'...' if len(text) > 24 else ''} is out of range")
    return value


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def parse_json(text: str, where: str | Path) -> Any:
    """A JSON document -> Python values, or `InputError(where, problem)` for a malformed or
    hostile one (see the module doc). `where` names the file (and line) in the message."""
    try:
        return json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except _Refused as exc:
        raise InputError(where, f"not accepted as JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            where, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError(where, "not accepted as JSON: nested too deeply") from None
    except (ValueError, MemoryError) as exc:  # anything else the decoder may raise on odd input
        raise InputError(where, f"not valid JSON ({type(exc).__name__})") from None


def read_json(path: str | Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON document in a UTF-8 file of at most `max_bytes`, parsed by `parse_json`.

    Missing, unreadable, oversized, empty, non-UTF-8 and malformed files raise `InputError`
    naming the file; nothing larger than `max_bytes` is ever read into memory.
    """
    path = Path(path)
    text = read_text(path, max_bytes)
    if not text.strip():
        raise InputError(path, "empty file")
    return parse_json(text, path)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool: what a coordinate or size may be (an int of more
    than `MAX_INT_DIGITS` digits is none, as `parse_json` would have refused it)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 10**MAX_INT_DIGITS
    return isinstance(value, float) and math.isfinite(value)


def is_int(value: Any) -> bool:
    """An int that is not a bool (`True` is 1 to Python, never an id or a count to a reader)."""
    return isinstance(value, int) and not isinstance(value, bool)
