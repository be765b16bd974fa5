"""The "did you mean" of every config message: a leaf, so any spec module can use it without an import cycle."""

from __future__ import annotations

import difflib


def suggest(word: str, choices: list[str] | set[str]) -> str | None:
    """The closest of ``choices`` to ``word``, for "did you mean" hints."""
    match = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return match[0] if match else None
