"""The outbox's rows in the ledger: each action delivery is enqueued (committed) before it is sent, then marked.

A row is ``pending`` (enqueued, not sent yet), ``delivered`` (never sent again), ``failed`` (a run's attempts
all failed; the next run or resume tries again) or ``given_up`` (failed in ``max_runs`` runs; left alone). One row
per (crew, target, item, content): the same item with the same content is enqueued once, ever. Payloads, target
names (URLs) and errors are redacted like every other text of the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from etlcrew.redact import redact

OPEN = ("pending", "failed")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Enqueued(NamedTuple):
    """One delivery to enqueue: which target, which item with which content, under which key, with what."""

    key: str
    target: str
    item_id: str
    content_hash: str
    payload: dict[str, Any]


class DeliveryRows:
    """Mixed into ``Ledger``, whose ``_write``, ``_write_many`` and ``_rows`` it uses."""

    _write: Callable[..., None]
    _write_many: Callable[..., None]
    _rows: Callable[..., list[dict[str, Any]]]

    def enqueue(self, crew: str, run_id: str, rows: list[Enqueued]) -> None:
        """Add each row as ``pending`` in one commit; one already there (any status) is left as it is."""
        now = _now()
        self._write_many(
            "INSERT OR IGNORE INTO deliveries (idempotency_key, crew, target, item_id, content_hash, run_id, "
            "payload_json, status, enqueued_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            [(r.key, crew, redact(r.target), r.item_id, r.content_hash, run_id,
              redact(json.dumps(r.payload, default=str)), now, now) for r in rows])

    def open_deliveries(self, crew: str, target: str) -> list[dict[str, Any]]:
        """The target's rows still to send (pending or failed, from any run), oldest first."""
        return self._rows("SELECT * FROM deliveries WHERE crew=? AND target=? AND status IN (?, ?) "
                          "ORDER BY enqueued_at, rowid", (crew, redact(target), *OPEN))

    def mark_delivered(self, key: str, run_id: str, attempts: int) -> None:
        now = _now()
        self._write("UPDATE deliveries SET status='delivered', attempts=attempts+?, rounds=rounds+1, last_error=NULL, "
                    "last_run_id=?, updated_at=?, delivered_at=? WHERE idempotency_key=?",
                    (attempts, run_id, now, now, key))

    def mark_failed(self, key: str, run_id: str, attempts: int, error: str, max_runs: int) -> str:
        """Count a run's failed attempts; ``given_up`` once ``max_runs`` runs failed it. Returns the new status."""
        self._write("UPDATE deliveries SET status=CASE WHEN rounds+1 >= ? THEN 'given_up' ELSE 'failed' END, "
                    "attempts=attempts+?, rounds=rounds+1, last_error=?, last_run_id=?, updated_at=? "
                    "WHERE idempotency_key=?", (max_runs, attempts, redact(error), run_id, _now(), key))
        rows = self._rows("SELECT status FROM deliveries WHERE idempotency_key=?", (key,))
        return str(rows[0]["status"]) if rows else "failed"

    def deliveries(self, run_id: str) -> list[dict[str, Any]]:
        """The rows this run enqueued or last tried (a run also sends what an earlier one left), in order."""
        return self._rows("SELECT idempotency_key, target, item_id, status, attempts, rounds, last_error, run_id, "
                          "last_run_id, enqueued_at, delivered_at FROM deliveries WHERE run_id=? OR last_run_id=? "
                          "ORDER BY enqueued_at, rowid", (run_id, run_id))

    def delivered_count(self, run_id: str, kind: str | None = None) -> int:
        """How many deliveries this run sent (of one target kind, e.g. ``webhook``, when given)."""
        like = f"{kind}:%" if kind else "%"
        rows = self._rows("SELECT COUNT(*) AS n FROM deliveries WHERE last_run_id=? AND status='delivered' "
                          "AND target LIKE ?", (run_id, like))
        return int(rows[0]["n"])

    def member_hashes(self, run_id: str) -> dict[str, str]:
        """item_id -> content hash of the run's batch members: what a delivery's content is."""
        rows = self._rows("SELECT items_json FROM batches WHERE run_id=?", (run_id,))
        return {str(i): str(h) for row in rows for i, h in json.loads(row["items_json"])}
