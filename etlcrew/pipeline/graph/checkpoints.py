"""The SQLite checkpointer of ``process: graph`` runs, in the state dir, and its pruning.

One file for every run (``graph_checkpoints.db``); a thread is ``<run>:<item>``. Landed items' threads are deleted
at the end of a run: a checkpoint store otherwise grows without bound, and a landed item needs none (its outcome
is in the ledger). Threads of items waiting for approval stay until they land.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

CHECKPOINT_FILE = "graph_checkpoints.db"


def thread_id(run_id: str, item_id: str) -> str:
    return f"{run_id}:{item_id}"


def open_checkpointer(state_dir: Path) -> Any:
    """A ``SqliteSaver`` on the state dir's checkpoint file (WAL, shared by the run's item threads)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    state_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(state_dir / CHECKPOINT_FILE, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # as the ledger: safe from a killed process, no fsync per commit
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


def prune(saver: Any, run_id: str, item_ids: list[str]) -> None:
    """Delete the threads of these items (landed: nothing left to resume)."""
    for item_id in item_ids:
        saver.delete_thread(thread_id(run_id, item_id))
    saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def store_size(state_dir: Path) -> int:
    """Bytes the checkpoint store holds (checkpoints, metadata and pending writes; the file itself keeps its
    high-water mark after deletes), for ``bench/graph_overhead.py``."""
    path = state_dir / CHECKPOINT_FILE
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        held = db.execute("SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints").fetchone()
        written = db.execute("SELECT coalesce(sum(length(value)), 0) FROM writes").fetchone()
    return int(held[0]) + int(written[0])
