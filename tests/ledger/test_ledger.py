"""The ledger: migrations applied once and recorded, WAL mode, item outcomes and model calls kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from etlcrew.ledger import open_ledger
from etlcrew.ledger.migrations import MIGRATIONS


def test_migrations_run_once_and_build_the_schema(tmp_path: Path) -> None:
    first = open_ledger(tmp_path)
    first.close()
    again = open_ledger(tmp_path)
    again.close()
    db = sqlite3.connect(tmp_path / "ledger.db")
    assert [r[0] for r in db.execute("SELECT number FROM migrations")] == [n for n, _ in MIGRATIONS]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "items", "model_calls", "migrations"} <= tables
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_item_is_unchanged_only_when_loaded_with_same_content_and_config(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    ledger.record_items("crew", "run-1", "cfg-a", [("s:1", "hash-1", "loaded", None),
                                                   ("s:2", "hash-2", "quarantined", "bad enum")])
    assert ledger.unchanged_since_loaded("crew", "s:1", "hash-1", "cfg-a")
    assert not ledger.unchanged_since_loaded("crew", "s:1", "hash-X", "cfg-a"), "content changed"
    assert not ledger.unchanged_since_loaded("crew", "s:1", "hash-1", "cfg-b"), "config changed"
    assert not ledger.unchanged_since_loaded("crew", "s:2", "hash-2", "cfg-a"), "quarantined items are retried"
    assert not ledger.unchanged_since_loaded("other", "s:1", "hash-1", "cfg-a"), "per crew"
    ledger.record_items("crew", "run-2", "cfg-a", [("s:2", "hash-2", "loaded", None)])
    assert ledger.unchanged_since_loaded("crew", "s:2", "hash-2", "cfg-a")


def test_runs_and_calls_are_recorded(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    ledger.start_run("run-1", "crew", {"topic": "x"}, "cfg")
    assert ledger.run("run-1")["status"] == "running"
    ledger.record_call("run-1", "local/m", 100, 20, 12.5, None)
    ledger.record_call("run-1", "local/m", 0, 0, 3.0, "timeout")
    summary = {"run_id": "run-1", "status": "partial", "models": ["local/m"], "duration_s": 1.5,
               "items": {"extracted": 3, "loaded": 2, "quarantined": 1, "skipped": 0},
               "llm": {"calls": 1, "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.0}}
    ledger.finish_run(summary)
    run = ledger.run("run-1")
    assert (run["status"], run["loaded"], run["quarantined"], run["prompt_tokens"]) == ("partial", 2, 1, 100)
    calls = ledger.calls("run-1")
    assert [c["error"] for c in calls] == [None, "timeout"] and calls[0]["prompt_tokens"] == 100
