"""``{placeholder}`` filling for YAML text, done by etlcrew rather than CrewAI.

CrewAI interpolates every ``{word}`` it meets, so source text containing braces (an email quoting code, a JSON
body) would break its kickoff; we fill placeholders ourselves and hand CrewAI finished strings. ``{{`` and
``}}`` are literal braces. Names follow CrewAI's pattern (a letter or underscore, then letters, digits, ``_``, ``-``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_\-]*)\}")

# Filled by the data path for every batch; always available, never needed from --input.
RUNTIME_PLACEHOLDERS = frozenset({"items", "findings", "records", "schema", "batch", "crew", "today", "run_id"})


def placeholders_in(text: str | None) -> list[str]:
    """Names of the placeholders in ``text``, in order of first appearance, escaped braces excluded."""
    found: list[str] = []
    for match in _TOKEN.finditer(text or ""):
        name = match.group(1)
        if name and name not in found:
            found.append(name)
    return found


def fill(text: str, values: Mapping[str, object]) -> str:
    """Replace placeholders with ``values`` and unescape ``{{``/``}}``; a missing name raises ``KeyError``."""

    def replace(match: re.Match[str]) -> str:
        matched = match.group(0)
        if matched == "{{":
            return "{"
        if matched == "}}":
            return "}"
        return str(values[match.group(1)])

    return _TOKEN.sub(replace, text)


def missing(texts: Iterable[str | None], available: Iterable[str]) -> list[str]:
    """Placeholders used in ``texts`` that neither ``available`` nor the runtime provides."""
    have = set(available) | RUNTIME_PLACEHOLDERS
    needed: list[str] = []
    for text in texts:
        for name in placeholders_in(text):
            if name not in have and name not in needed:
                needed.append(name)
    return needed
