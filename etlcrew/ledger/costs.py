"""Tokens per run and model, read from ``model_calls``: what a run's cost is computed from when it is shown.

The cost is derived, not stored: a model without a price has an unknown cost (``model_runtime.usage``), which the
``runs.cost_usd`` column (``NOT NULL``) cannot hold, and a price added to ``config/prices.yaml`` later applies to
runs already made.
"""

from __future__ import annotations

from etlcrew.ledger.store import Ledger


def tokens_by_model(ledger: Ledger, run_ids: list[str]) -> dict[str, list[tuple[str, int, int]]]:
    """Run id -> (reported model, prompt tokens, completion tokens) of its successful calls, one row per model."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for run_id in run_ids:  # ``runs`` shows 20 by default: one indexed query each
        rows = ledger._rows(  # a read of the ledger's own table, kept out of store.py
            "SELECT model, SUM(prompt_tokens) AS p, SUM(completion_tokens) AS c FROM model_calls "
            "WHERE run_id=? AND error IS NULL GROUP BY model", (run_id,))
        out[run_id] = [(row["model"], int(row["p"] or 0), int(row["c"] or 0)) for row in rows]
    return out
