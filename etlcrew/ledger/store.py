"""Reads and writes of the ledger; every write commits at once, so a crash loses at most the step under way.

Text that may carry a secret (inputs, options, errors, reasons, model output, webhook URLs) is redacted
(``etlcrew.redact``) before it is written: the ledger file never holds an API key or a password. Redacting a
batch's phase outputs and outcome costs ~0.15 ms a batch (measured on the default crew's 30 emails).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from etlcrew.errors import EtlcrewError, StateError
from etlcrew.ledger.deliveries import DeliveryRows
from etlcrew.ledger.migrations import migrate
from etlcrew.redact import redact

LEDGER_FILE = "ledger.db"
RUN_OUTCOME_BATCH = 0  # batches of items are numbered from 1, source-quarantined pseudo-batches below 0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _redacted(text: str | None) -> str | None:
    return None if text is None else redact(text)


@contextmanager
def plain_errors(path: Path) -> Iterator[None]:
    """SQLite's errors as one line naming the ledger file and the fix: a file that is not a ledger, a read-only
    state folder (exit 2, before any work), a full disk (exit 1: the run is resumable once there is room)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        text = str(exc).lower()
        if "not a database" in text or "malformed" in text:
            raise StateError(f"{path} is not an etlcrew ledger ({exc})",
                             f"move it aside (mv {path} {path}.bad) and run again: a new ledger is created; or point "
                             "ETLCREW_HOME at the folder of the right one") from exc
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            raise StateError(f"{path}: the ledger cannot be written ({exc})",
                             "set ETLCREW_HOME to a writable folder, or make this one writable") from exc
        if "disk is full" in text:
            raise EtlcrewError(f"{path}: no space left on device ({exc})",
                               "free space on that disk (or move ETLCREW_HOME), then continue") from exc
        raise


class Ledger(DeliveryRows):
    """One connection shared by the run's threads (CrewAI's event handlers record calls from their own)."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"{path.parent}: the state folder cannot be created ({exc.strerror})",
                             "set ETLCREW_HOME to a writable folder, or make this one writable") from exc
        self.path = path
        self._lock = threading.Lock()
        with plain_errors(path):
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._lock:
                migrate(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params: Iterable[Any] = ()) -> None:
        with plain_errors(self.path), self._lock, self._db:
            self._db.execute(sql, tuple(params))

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with plain_errors(self.path), self._lock:
            cursor = self._db.execute(sql, tuple(params))
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with plain_errors(self.path), self._lock, self._db:
                self._db.executemany(sql, rows)

    # runs
    def start_run(self, run_id: str, crew: str, inputs: dict[str, object], config_hash: str,
                  options: dict[str, Any] | None = None) -> None:
        self._write("INSERT INTO runs (run_id, crew, status, started_at, inputs_json, config_hash, options_json, pid) "
                    "VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                    (run_id, crew, _now(), redact(json.dumps(inputs, default=str, sort_keys=True)), config_hash,
                     redact(json.dumps(options or {}, default=str, sort_keys=True)), os.getpid()))

    def resume_run(self, run_id: str) -> None:
        """Mark a run running again; its earlier batches, phases and calls stay and are reused."""
        self._write("UPDATE runs SET status='running', finished_at=NULL, error=NULL, resumed=resumed+1, pid=? "
                    "WHERE run_id=?", (os.getpid(), run_id))

    def finish_run(self, summary: dict[str, Any]) -> None:
        items, llm = summary["items"], summary["llm"]
        self._write(
            "UPDATE runs SET status=?, finished_at=?, models_json=?, extracted=?, loaded=?, quarantined=?, "
            "skipped=?, calls=?, prompt_tokens=?, completion_tokens=?, cost_usd=?, duration_s=?, error=?, "
            "failed_calls=?, process=?, outputs_json=?, review=? WHERE run_id=?",
            (summary["status"], _now(), json.dumps(summary.get("models", [])), items["extracted"], items["loaded"],
             items["quarantined"], items["skipped"], llm["calls"], llm["prompt_tokens"], llm["completion_tokens"],
             llm["cost_usd"], summary.get("duration_s"), _redacted(summary.get("error")), llm.get("failed_calls", 0),
             summary.get("process"), json.dumps(summary.get("outputs", [])), items.get("review", 0),
             summary["run_id"]))

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM runs WHERE run_id=?", (run_id,))
        return rows[0] if rows else None

    def runs(self, limit: int = 20, crew: str | None = None) -> list[dict[str, Any]]:
        """The most recent runs first (run ids sort by time), optionally of one crew only."""
        if crew is not None:
            return self._rows("SELECT * FROM runs WHERE crew=? ORDER BY run_id DESC LIMIT ?", (crew, limit))
        return self._rows("SELECT * FROM runs ORDER BY run_id DESC LIMIT ?", (limit,))

    def matching_run_ids(self, prefix: str) -> list[str]:
        """Run ids starting with ``prefix`` (case-insensitive), so users can type a short unique prefix.

        Compared as plain text (``substr``), never as a pattern: ``%`` or ``_`` match only themselves."""
        prefix = prefix.upper()
        rows = self._rows("SELECT run_id FROM runs WHERE substr(upper(run_id), 1, ?) = ? ORDER BY run_id",
                          (len(prefix), prefix))
        return [r["run_id"] for r in rows]

    # items
    def unchanged_since_loaded(self, crew: str, item_id: str, content_hash: str, config_hash: str,
                               retry_review: bool = False) -> bool:
        """True when the item needs no model call: loaded, or held for review (unless ``retry_review``), from the
        same content under the same relevant config; or decided by a person (reviewed, discarded) from the same
        content, whatever the config (a person's decision outranks a config change; ``ledger.reviews``)."""
        with plain_errors(self.path), self._lock:
            row = self._db.execute("SELECT content_hash, config_hash, state FROM items WHERE crew=? AND item_id=?",
                                   (crew, item_id)).fetchone()
        if row is None or row[0] != content_hash:
            return False
        if row[2] in ("reviewed", "discarded"):
            return True
        return row[1] == config_hash and (row[2] == "loaded" or (row[2] == "review" and not retry_review))

    def items_of_crew(self, crew: str) -> dict[str, tuple[str, str, str]]:
        """item_id -> (content hash, config hash, state) of every item the crew ever landed (``run --dry-run``)."""
        rows = self._rows("SELECT item_id, content_hash, config_hash, state FROM items WHERE crew=?", (crew,))
        return {r["item_id"]: (r["content_hash"], r["config_hash"], r["state"]) for r in rows}

    def record_items(self, crew: str, run_id: str, config_hash: str,
                     outcomes: list[tuple[str, str, str, str | None]]) -> None:
        """``outcomes``: (item_id, content_hash, state, reason) after the items were written to the targets."""
        now = _now()
        self._write_many(
            "INSERT INTO items (crew, item_id, content_hash, config_hash, state, reason, run_id, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (crew, item_id) DO UPDATE SET "
            "content_hash=excluded.content_hash, config_hash=excluded.config_hash, state=excluded.state, "
            "reason=excluded.reason, run_id=excluded.run_id, updated_at=excluded.updated_at",
            [(crew, item_id, content_hash, config_hash, state, _redacted(reason), run_id, now)
             for item_id, content_hash, state, reason in outcomes])

    # batches and their finished phases: what resume reuses
    def add_batch(self, run_id: str, batch_no: int, items: list[tuple[str, str]]) -> None:
        """Remember a batch's members as (item_id, content_hash) before any of its phases runs."""
        self._write("INSERT OR IGNORE INTO batches (run_id, batch_no, items_json, state, updated_at) "
                    "VALUES (?, ?, ?, 'running', ?)", (run_id, batch_no, json.dumps(items), _now()))

    def save_phase(self, run_id: str, batch_no: int, phase: str, output_json: str) -> None:
        self._write("INSERT OR REPLACE INTO batch_phases VALUES (?, ?, ?, ?, ?)",
                    (run_id, batch_no, phase, redact(output_json), _now()))

    def save_outcome(self, run_id: str, batch_no: int, outcome_json: str) -> None:
        """The batch's validated records and quarantined items, before they are written to the targets."""
        self._write("UPDATE batches SET state='done', outcome_json=?, updated_at=? WHERE run_id=? AND batch_no=?",
                    (redact(outcome_json), _now(), run_id, batch_no))

    def mark_landed(self, run_id: str, batch_nos: list[int]) -> None:
        self._write_many("UPDATE batches SET state='landed', updated_at=? WHERE run_id=? AND batch_no=?",
                         [(_now(), run_id, n) for n in batch_nos])

    def batches(self, run_id: str) -> list[dict[str, Any]]:
        """Every batch of the run with its phases (``phases``: phase -> output JSON), in batch order."""
        batches = self._rows("SELECT * FROM batches WHERE run_id=? ORDER BY batch_no", (run_id,))
        phases = self._rows("SELECT batch_no, phase, output_json FROM batch_phases WHERE run_id=?", (run_id,))
        by_batch: dict[int, dict[str, str]] = {}
        for row in phases:
            by_batch.setdefault(row["batch_no"], {})[row["phase"]] = row["output_json"]
        for batch in batches:
            batch["items"] = [tuple(pair) for pair in json.loads(batch.pop("items_json"))]
            batch["phases"] = by_batch.get(batch["batch_no"], {})
        return batches

    # the run's outcome (digest and action list): a phase of batch 0, which no batch of items uses
    def save_run_outcome(self, run_id: str, outcome_json: str) -> None:
        self.save_phase(run_id, RUN_OUTCOME_BATCH, "outcome", outcome_json)

    def run_outcome(self, run_id: str) -> str | None:
        """The run's outcome JSON (``pipeline.outcome``), once its digest is written."""
        rows = self._rows("SELECT output_json FROM batch_phases WHERE run_id=? AND batch_no=? AND phase='outcome'",
                          (run_id, RUN_OUTCOME_BATCH))
        return rows[0]["output_json"] if rows else None

    def batch_counts(self, run_id: str) -> dict[str, int]:
        """Batch state -> count (pseudo-batches of source-quarantined items, numbered below 1, left out)."""
        rows = self._rows("SELECT state, COUNT(*) AS n FROM batches WHERE run_id=? AND batch_no > 0 GROUP BY state",
                          (run_id,))
        return {r["state"]: int(r["n"]) for r in rows}

    def phase_counts(self, run_id: str) -> dict[str, int]:
        """Phase -> number of batches that committed it."""
        rows = self._rows("SELECT phase, COUNT(*) AS n FROM batch_phases WHERE run_id=? AND batch_no > 0 "
                          "AND phase NOT LIKE 'part:%' GROUP BY phase", (run_id,))
        return {r["phase"]: int(r["n"]) for r in rows}

    def outcomes(self, run_id: str, state: str = "landed") -> list[tuple[int, str]]:
        """(batch_no, outcome JSON) of the run's batches in ``state``, in batch order, without phase outputs."""
        rows = self._rows("SELECT batch_no, outcome_json FROM batches WHERE run_id=? AND state=? "
                          "AND outcome_json IS NOT NULL ORDER BY batch_no", (run_id, state))
        return [(r["batch_no"], r["outcome_json"]) for r in rows]

    # model calls
    def record_call(self, run_id: str, model: str, prompt_tokens: int, completion_tokens: int,
                    latency_ms: float | None, error: str | None, *, attempt: int = 1, batch_no: int | None = None,
                    agent: str | None = None, task: str | None = None) -> None:
        self._write("INSERT INTO model_calls (run_id, model, prompt_tokens, completion_tokens, latency_ms, error, at, "
                    "attempt, batch_no, agent, task) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, model, prompt_tokens, completion_tokens, latency_ms, _redacted(error), _now(), attempt,
                     batch_no, agent, task))

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM model_calls WHERE run_id=? ORDER BY id", (run_id,))

    def call_breakdown(self, run_id: str) -> list[dict[str, Any]]:
        """Per (task, agent, model), first seen first: attempts, successful and failed calls, retries (attempt >
        1), tokens of successful calls (as the run's totals count them), latency sum, count and maximum."""
        return self._rows(
            "SELECT task, agent, model, COUNT(*) AS attempts, SUM(error IS NULL) AS calls, "
            "SUM(error IS NOT NULL) AS failed_calls, SUM(attempt > 1) AS retries, "
            "COALESCE(SUM(CASE WHEN error IS NULL THEN prompt_tokens END), 0) AS prompt_tokens, "
            "COALESCE(SUM(CASE WHEN error IS NULL THEN completion_tokens END), 0) AS completion_tokens, "
            "COALESCE(SUM(latency_ms), 0) AS latency_sum_ms, COUNT(latency_ms) AS latency_n, "
            "MAX(latency_ms) AS max_latency_ms FROM model_calls WHERE run_id=? GROUP BY task, agent, model "
            "ORDER BY MIN(id)", (run_id,))

    def call_errors(self, run_id: str) -> list[dict[str, Any]]:
        """Distinct errors per (task, agent) with how often each occurred, most frequent first."""
        return self._rows("SELECT task, agent, error, COUNT(*) AS n FROM model_calls WHERE run_id=? AND error IS NOT "
                          "NULL GROUP BY task, agent, error ORDER BY n DESC, MIN(id)", (run_id,))

    def calls_by_phase(self, run_id: str, phase_of: dict[str, str] | None = None) -> dict[str, dict[str, int]]:
        """Task (or its phase, through ``phase_of``) -> calls, failed calls and tokens: the report's chart."""
        out: dict[str, dict[str, int]] = {}
        for row in self.call_breakdown(run_id):
            task = row["task"] or "(no task)"
            sums = out.setdefault((phase_of or {}).get(task, task), dict.fromkeys(
                ("calls", "failed_calls", "prompt_tokens", "completion_tokens"), 0))
            for key in sums:
                sums[key] += int(row[key] or 0)
        return out

    def call_averages(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """Per task, over these runs: mean prompt and completion tokens of a successful call, mean latency (ms)
        and how many calls (the estimate of ``run --dry-run``)."""
        return self._rows("SELECT task, AVG(prompt_tokens) AS prompt, AVG(completion_tokens) AS completion, "
                          "AVG(latency_ms) AS latency_ms, COUNT(*) AS n FROM model_calls WHERE error IS NULL "
                          "AND run_id IN (SELECT value FROM json_each(?)) GROUP BY task", (json.dumps(run_ids),))

    def call_totals(self, run_id: str) -> dict[str, int]:
        """Successful calls and tokens so far: a resumed run's budget counts what it already spent."""
        row = self._rows("SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "
                         "COALESCE(SUM(completion_tokens), 0) AS completion_tokens FROM model_calls "
                         "WHERE run_id=? AND error IS NULL", (run_id,))[0]
        return {k: int(v) for k, v in row.items()}


def open_ledger(state_dir: Path) -> Ledger:
    """The ledger of this state directory, created and migrated on first use."""
    return Ledger(state_dir / LEDGER_FILE)
