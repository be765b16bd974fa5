"""Reads and writes of the ledger; every write commits at once, so a crash loses at most the step under way."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ledger.migrations import migrate

LEDGER_FILE = "ledger.db"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Ledger:
    """One connection shared by the run's threads (CrewAI's event handlers record calls from their own)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params: Iterable[Any] = ()) -> None:
        with self._lock, self._db:
            self._db.execute(sql, tuple(params))

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self._lock, self._db:
                self._db.executemany(sql, rows)

    # runs
    def start_run(self, run_id: str, crew: str, inputs: dict[str, object], config_hash: str) -> None:
        self._write("INSERT INTO runs (run_id, crew, status, started_at, inputs_json, config_hash) "
                    "VALUES (?, ?, 'running', ?, ?, ?)",
                    (run_id, crew, _now(), json.dumps(inputs, default=str, sort_keys=True), config_hash))

    def finish_run(self, summary: dict[str, Any]) -> None:
        items, llm = summary["items"], summary["llm"]
        self._write(
            "UPDATE runs SET status=?, finished_at=?, models_json=?, extracted=?, loaded=?, quarantined=?, "
            "skipped=?, calls=?, prompt_tokens=?, completion_tokens=?, cost_usd=?, duration_s=?, error=? "
            "WHERE run_id=?",
            (summary["status"], _now(), json.dumps(summary.get("models", [])), items["extracted"], items["loaded"],
             items["quarantined"], items["skipped"], llm["calls"], llm["prompt_tokens"], llm["completion_tokens"],
             llm["cost_usd"], summary.get("duration_s"), summary.get("error"), summary["run_id"]))

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,))
            row = cursor.fetchone()
            names = [c[0] for c in cursor.description]
        return dict(zip(names, row, strict=True)) if row else None

    # items
    def unchanged_since_loaded(self, crew: str, item_id: str, content_hash: str, config_hash: str) -> bool:
        """True when the item was last loaded from the same content under the same relevant config."""
        with self._lock:
            row = self._db.execute("SELECT content_hash, config_hash, state FROM items WHERE crew=? AND item_id=?",
                                   (crew, item_id)).fetchone()
        return row == (content_hash, config_hash, "loaded")

    def record_items(self, crew: str, run_id: str, config_hash: str,
                     outcomes: list[tuple[str, str, str, str | None]]) -> None:
        """``outcomes``: (item_id, content_hash, state, reason) after the items were written to the targets."""
        now = _now()
        self._write_many(
            "INSERT INTO items (crew, item_id, content_hash, config_hash, state, reason, run_id, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (crew, item_id) DO UPDATE SET "
            "content_hash=excluded.content_hash, config_hash=excluded.config_hash, state=excluded.state, "
            "reason=excluded.reason, run_id=excluded.run_id, updated_at=excluded.updated_at",
            [(crew, item_id, content_hash, config_hash, state, reason, run_id, now)
             for item_id, content_hash, state, reason in outcomes])

    # model calls
    def record_call(self, run_id: str, model: str, prompt_tokens: int, completion_tokens: int,
                    latency_ms: float | None, error: str | None) -> None:
        self._write("INSERT INTO model_calls (run_id, model, prompt_tokens, completion_tokens, latency_ms, error, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, model, prompt_tokens, completion_tokens, latency_ms, error, _now()))

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM model_calls WHERE run_id=? ORDER BY id", (run_id,))
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def open_ledger(state_dir: Path) -> Ledger:
    """The ledger of this state directory, created and migrated on first use."""
    return Ledger(state_dir / LEDGER_FILE)
