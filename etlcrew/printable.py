"""Untrusted text (file names, item text, model output) made safe to print: no control character reaches a
terminal or a report raw.

An ANSI escape or a BEL in a file name could clear the screen, set the window title or hide a line; a newline
would split a ``show`` line in two; a bidi override (U+202E) would show text in another order than it is. Each
such character is written as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``), so nothing is lost and a
user sees that it was there. ``console`` applies ``printable`` to everything it prints (``one_line`` to table
cells); the report, ``show`` and the trace use these too.
"""

from __future__ import annotations

import re

_BIDI = "\u202a-\u202e\u2066-\u2069"
_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")  # C0 (newline and tab kept), DEL, C1, bidi
_CONTROLS_AND_BREAKS = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_JSON_UNESCAPED = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI}]")  # what json.dumps(ensure_ascii=False) leaves
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab written as a visible escape."""
    return _CONTROLS.sub(_visible, text)


def one_line(text: str) -> str:
    """``text`` on one line: newlines and tabs escaped too (a table cell, an item id in a list)."""
    return _CONTROLS_AND_BREAKS.sub(_visible, text)


def json_printable(document: str) -> str:
    """A JSON text (``ensure_ascii=False``) with the characters ``json`` leaves raw (DEL, C1, bidi) as ``\\uXXXX``:
    still the same JSON value, safe to ``cat``."""
    return _JSON_UNESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
