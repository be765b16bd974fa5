"""The ledger's part of ``process: graph``: memoised model outputs, each item's route, and approvals.

Kept out of ``store`` (one job each). Outputs are redacted like every model output the ledger holds.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

from etlcrew.redact import redact

if TYPE_CHECKING:
    from etlcrew.ledger.store import Ledger


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def saved_output(ledger: Ledger, run_id: str, item_id: str, phase: str, attempt: int) -> dict[str, Any] | None:
    """The output a node's model call gave at this attempt, if an earlier pass committed it."""
    rows = ledger._rows("SELECT output_json FROM graph_outputs WHERE run_id=? AND item_id=? AND phase=? AND attempt=?",
                        (run_id, item_id, phase, attempt))
    return json.loads(rows[0]["output_json"]) if rows else None


def save_output(ledger: Ledger, run_id: str, item_id: str, phase: str, attempt: int, output: dict[str, Any]) -> None:
    ledger._write("INSERT OR REPLACE INTO graph_outputs VALUES (?, ?, ?, ?, ?, ?)",
                  (run_id, item_id, phase, attempt, redact(json.dumps(output, ensure_ascii=False)), _now()))


def save_route(ledger: Ledger, run_id: str, item_id: str, route: list[str], waiting: str | None = None) -> None:
    """The nodes the item went through, in order; ``waiting`` is the node it waits in (``approve``), if any."""
    ledger._write("INSERT INTO graph_items (run_id, item_id, route_json, waiting, updated_at) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT (run_id, item_id) DO UPDATE SET route_json=excluded.route_json, "
                  "waiting=excluded.waiting, updated_at=excluded.updated_at",
                  (run_id, item_id, json.dumps(route), waiting, _now()))


def approve(ledger: Ledger, run_id: str, item_ids: list[str] | None) -> list[str]:
    """Mark waiting items approved (all of them when ``item_ids`` is None); returns those marked."""
    waiting = [r["item_id"] for r in ledger._rows(
        "SELECT item_id FROM graph_items WHERE run_id=? AND waiting='approve' AND approved_at IS NULL", (run_id,))]
    chosen = waiting if item_ids is None else [i for i in waiting if i in item_ids]
    ledger._write_many("UPDATE graph_items SET approved_at=? WHERE run_id=? AND item_id=?",
                       [(_now(), run_id, i) for i in chosen])
    return chosen


def approved(ledger: Ledger, run_id: str, item_id: str) -> bool:
    rows = ledger._rows("SELECT approved_at FROM graph_items WHERE run_id=? AND item_id=?", (run_id, item_id))
    return bool(rows and rows[0]["approved_at"])


def waiting_items(ledger: Ledger, run_id: str) -> list[str]:
    return [r["item_id"] for r in ledger._rows(
        "SELECT item_id FROM graph_items WHERE run_id=? AND waiting IS NOT NULL ORDER BY item_id", (run_id,))]


def route_counts(ledger: Ledger, run_id: str) -> dict[str, int]:
    """How many items took each edge (``transform->validate``), over the run's items."""
    counts: dict[str, int] = {}
    for row in ledger._rows("SELECT route_json FROM graph_items WHERE run_id=?", (run_id,)):
        route = json.loads(row["route_json"])
        for edge in itertools.pairwise(route):
            key = f"{edge[0]}->{edge[1]}"
            counts[key] = counts.get(key, 0) + 1
    return counts
