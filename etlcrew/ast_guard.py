"""Make ``ast.parse`` safe to call from several threads on the CPython releases where it is not.

CPython 3.11 before 3.11.8 (and 3.12 before 3.12.2) keep the AST constructor's recursion depth in state the
whole interpreter shares (CPython gh-106905). The constructor is C code and keeps the GIL, except when an
allocation starts a garbage collection whose finalizers run Python code: another thread can then run, and if
it parses too, the first parse fails with ``SystemError: AST constructor recursion depth mismatch``.

Concurrent batches and graph items call ``ast.parse`` on every kickoff without asking for it: CrewAI's flow
runtime builds a pydantic class per kickoff, and pydantic's ``inspect.signature`` of builtins parses their
text signature (and on 3.11 a formatted traceback parses its source lines). So on those releases
``ast.parse`` is replaced by one that parses one at a time with collection held off: no Python code runs
inside the constructor, so no other thread can. Errors (a syntax error too) are raised unchanged.
"""

from __future__ import annotations

import ast
import gc
import sys
import threading
from typing import Any

_lock = threading.Lock()
_parse = ast.parse


def affected(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> bool:
    """Whether this interpreter has the shared-depth AST constructor (fixed in 3.11.8 and 3.12.2)."""
    return version < (3, 11, 8) or (3, 12) <= version < (3, 12, 2)


def _one_at_a_time(*args: Any, **kwargs: Any) -> Any:
    with _lock:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return _parse(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()


def install() -> None:
    """Replace ``ast.parse`` (once, and only on affected interpreters)."""
    if affected() and ast.parse is _parse:
        ast.parse = _one_at_a_time  # type: ignore[assignment]
