"""One line for a failed store: the cause a person can act on, not dlt's wrappers around it.

dlt wraps a store's own error several times (``PipelineStepFailed`` -> ``LoadClientJobRetry`` -> the driver's
exception), each message repeating the last with ``<class '...'>`` lines and advice about dlt's CLI. The
innermost exception says what happened (a full disk, a file locked by another process, a read-only file);
the full chain stays on the exception for ``--debug``.
"""

from __future__ import annotations

import errno
import re

MAX_CHARS = 300
_KNOWN = (  # (text found anywhere in the chain, what to say)
    ("no space left on device", "no space left on device"),
    ("database is locked", "the database is locked by another process"),
    ("readonly database", "the database file is read-only"),
    ("read-only", "the database file is read-only"),
    ("permission denied", "permission denied"),
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (causes, contexts and dlt's ``exception``), outermost first."""
    seen: list[BaseException] = []
    level: list[BaseException] = [exc]
    while level:
        seen += level
        wrapped = [getattr(e, "exception", None) for e in level] + [e.__cause__ for e in level] + \
            [e.__context__ for e in level]
        level = [w for w in wrapped if isinstance(w, BaseException) and not any(w is s for s in seen)]
        level = [w for i, w in enumerate(level) if not any(w is o for o in level[:i])]
    return seen


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.startswith("<class ")]
    text = lines[0] if lines else type(exc).__name__
    return re.sub(r"^(?:IO|Catalog|TransactionContext|Invalid Input) Error: ", "", text)


def describe_store_error(exc: BaseException) -> str:
    """What went wrong with a store, in one line of at most ``MAX_CHARS`` characters."""
    chain = _chain(exc)
    if any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in chain):
        return "no space left on device"
    innermost = chain[-1]
    held = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", " ".join(str(e) for e in chain))
    if held:  # DuckDB: one writer per file
        return f"the file is open in another program: {held.group(1)} (PID {held.group(2)})"
    text = " ".join(str(e) for e in chain).lower()
    for needle, said in _KNOWN:
        if needle in text:
            if said:
                return said
            innermost = next(e for e in reversed(chain) if needle in str(e).lower())
            break
    line = _first_line(innermost)
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"
