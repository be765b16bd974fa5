"""A person's decisions on held items, in the ledger's ``reviews`` table (migration 5).

Following Argilla's habit, the model's suggestion (value and probability per field) is kept beside the person's
response (the decision and the final values), never merged into it. Each decision also moves the item's state in
``items`` to ``reviewed`` (accepted or corrected) or ``discarded``, in the same transaction, so a crash leaves
either both or neither. A later run treats such an item as done while its content is unchanged, whatever the
config (``Ledger.unchanged_since_loaded``): a person's decision outranks a config change.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from etlcrew.redact import redact

if TYPE_CHECKING:
    from etlcrew.ledger.store import Ledger

DECISIONS = ("accept", "correct", "discard")


@dataclass(frozen=True)
class Decision:
    """What a person decided about one held item; ``final`` is ``None`` for a discarded item."""

    crew: str
    item_id: str
    run_id: str  # the run that held the item
    content_hash: str
    config_hash: str  # the config the model's suggestion was made under
    reason: str | None
    suggestion: dict[str, Any]  # field -> {"value": ..., "probability": float | None}
    decision: str
    final: dict[str, Any] | None
    reviewer: str


def held_items(ledger: Ledger, crew: str) -> list[dict[str, Any]]:
    """The crew's items in state 'review': item_id, content and config hash, reason, the run that held them."""
    return ledger._rows("SELECT item_id, content_hash, config_hash, reason, run_id FROM items "
                        "WHERE crew=? AND state='review' ORDER BY item_id", (crew,))


def record_decision(ledger: Ledger, d: Decision) -> None:
    """Store the decision and move the item out of 'review', in one transaction (values are redacted)."""
    if d.decision not in DECISIONS:
        raise ValueError(f"unknown decision {d.decision!r}")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    state = "discarded" if d.decision == "discard" else "reviewed"
    final = None if d.final is None else redact(json.dumps(d.final, default=str, sort_keys=True))
    with ledger._lock, ledger._db:
        ledger._db.execute(
            "INSERT INTO reviews (crew, item_id, run_id, content_hash, config_hash, reason, suggestion_json, "
            "decision, final_json, reviewer, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (d.crew, d.item_id, d.run_id, d.content_hash, d.config_hash, None if d.reason is None else redact(d.reason),
             redact(json.dumps(d.suggestion, default=str, sort_keys=True)), d.decision, final, d.reviewer, now))
        ledger._db.execute("UPDATE items SET state=?, reason=?, updated_at=? WHERE crew=? AND item_id=?",
                           (state, f"{d.decision} by {d.reviewer}", now, d.crew, d.item_id))


def latest_decisions(ledger: Ledger, crew: str) -> list[dict[str, Any]]:
    """The last decision on each item of the crew whose content is unchanged since (a ``--full-refresh`` that
    asks the model again does not undo what a person said about the same text), by item id; ``suggestion`` and
    ``final`` parsed."""
    rows = ledger._rows(
        "SELECT r.* FROM reviews r JOIN items i ON i.crew=r.crew AND i.item_id=r.item_id "
        "AND i.content_hash=r.content_hash WHERE r.crew=? AND r.id = (SELECT MAX(id) FROM reviews "
        "WHERE crew=r.crew AND item_id=r.item_id) ORDER BY r.item_id", (crew,))
    for row in rows:
        row["suggestion"] = json.loads(row.pop("suggestion_json"))
        final = row.pop("final_json")
        row["final"] = None if final is None else json.loads(final)
    return rows


def reviewed_by_run(ledger: Ledger, run_ids: list[str]) -> dict[str, int]:
    """Run id -> how many of the items it held a person has decided since (each item once)."""
    if not run_ids:
        return {}
    sql = "SELECT run_id, COUNT(DISTINCT item_id) AS n FROM reviews WHERE run_id IN ({}) GROUP BY run_id"
    rows = ledger._rows(sql.format(",".join("?" * len(run_ids))), run_ids)
    return {r["run_id"]: int(r["n"]) for r in rows}


def decisions_of_run(ledger: Ledger, run_id: str) -> dict[str, dict[str, Any]]:
    """item_id -> the last decision (decision, reviewer, decided_at) on the items this run held."""
    rows = ledger._rows("SELECT item_id, decision, reviewer, decided_at FROM reviews WHERE run_id=? ORDER BY id",
                        (run_id,))
    return {row["item_id"]: row for row in rows}


def review_counts(ledger: Ledger, crew: str) -> dict[str, int]:
    """The crew's items a person decided (reviewed or discarded) and those still waiting for one."""
    rows = ledger._rows("SELECT state, COUNT(*) AS n FROM items WHERE crew=? AND state IN "
                        "('review', 'reviewed', 'discarded') GROUP BY state", (crew,))
    by_state = {r["state"]: int(r["n"]) for r in rows}
    return {"reviewed by a person": by_state.get("reviewed", 0) + by_state.get("discarded", 0),
            "waiting for review": by_state.get("review", 0)}


def held_among(ledger: Ledger, crew: str, item_ids: list[str]) -> list[str]:
    """Which of these items are held for review now (a run that loads them after all takes them out)."""
    held = {row["item_id"] for row in held_items(ledger, crew)}
    return [item_id for item_id in item_ids if item_id in held]
