"""``process: graph``: the crew's phases as LangGraph nodes, one LangGraph thread per item, with routes.

LangGraph is an optional extra (``pip install -e ".[graph]"``), imported only by a ``process: graph`` run
(``load_langgraph``), never by this package's import: it costs ~2 s and pulls LangSmith, whose tracing is forced
off before the import so that no connection is made beyond the model endpoint.

Modules: ``build`` (the StateGraph), ``routes`` (route decisions), ``memo`` (model outputs in the ledger),
``checkpoints`` (the SQLite checkpointer and its pruning), ``run`` (``GraphPath``, the data path driving it).
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

INSTALL = 'pip install -e ".[graph]"'
TRACING_OFF = {"LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false", "LANGSMITH_TRACING_V2": "false",
               "LANGCHAIN_TRACING": "false"}


def langgraph_installed() -> bool:
    """Whether LangGraph and its SQLite checkpointer can be imported (checked without importing them)."""
    try:
        return all(importlib.util.find_spec(name) is not None
                   for name in ("langgraph", "langgraph.checkpoint.sqlite"))
    except (ImportError, ValueError):
        return False


def load_langgraph() -> ModuleType:
    """Import LangGraph with LangSmith tracing off; exit 2 with the install command when it is missing."""
    from etlcrew.errors import UsageError

    os.environ.update(TRACING_OFF)  # forced, whatever the shell says: run data must not leave the machine
    if not langgraph_installed():
        raise UsageError("process: graph needs LangGraph, which is not installed", hint=INSTALL)
    import langgraph

    return langgraph
