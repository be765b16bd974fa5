"""``runs``: the most recent runs from the ledger, newest first, as a table or a JSON array.

Reads the ledger only: imports neither CrewAI nor the data path (only its summary shape, ``pipeline.run_result``),
and creates no state when nothing ran yet.
``--json`` prints an array (``[]`` when there is no run), one object per run::

    {
      "run_id": "01JB...", "crew": "support_inbox", "status": "succeeded",
      "started_at": "2025-01-02T03:04:05+00:00", "finished_at": "2025-01-02T03:08:28+00:00",
      "duration_s": 263.1, "process": "sequential", "models": ["local/smollm2-135m"], "resumed": 0,
      "items": {"extracted": 30, "loaded": 30, "quarantined": 0, "skipped": 0, "review": 0, "pending": 0},
      "reviewed": 0,
      "llm": {"calls": 9, "failed_calls": 0, "prompt_tokens": 11220, "completion_tokens": 2048, "cost_usd": 0.0},
      "error": null,
      "resumable": false
    }

``items`` and ``llm`` have the shape of ``run --json``; ``reviewed`` counts the items the run held for review
that a person has decided since (``review``). A run still marked ``running`` whose process is gone (killed, machine
restarted) is shown as ``interrupted``, ``resumable`` true, with its resume command.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from etlcrew import console
from etlcrew.commands.ledger_access import open_existing, process_alive
from etlcrew.errors import EXIT_OK, ConfigError
from etlcrew.invocation import command
from etlcrew.model_runtime.usage import PRICE_HINT, cost_text, load_prices, unpriced
from etlcrew.pipeline.run_result import (
    RESUMABLE,
    ItemCounts,
    llm_usage,
    resume_command,
    show_command,
    status_of,
)
from etlcrew.settings import Settings


def crashed(row: dict[str, Any]) -> bool:
    """A run marked running whose process no longer exists (killed, machine restarted)."""
    return row["status"] == "running" and not process_alive(row.get("pid"))


def run_record(row: dict[str, Any], reviewed: int = 0, calls: list[tuple[str, int, int]] | None = None
               ) -> dict[str, Any]:
    """One ledger ``runs`` row as the documented JSON object; ``reviewed``: how many of the items it held a
    person has decided since (``review``); its cost from ``calls`` (``ledger.costs``), ``None`` when a model has
    no price."""
    from etlcrew.model_runtime.usage import total_cost

    llm = llm_usage(row)
    if calls is not None:
        llm["cost_usd"] = total_cost(calls, json.loads(row["models_json"] or "[]"))
    return {
        "run_id": row["run_id"], "crew": row["crew"],
        "status": "interrupted" if crashed(row) else status_of(row["status"]),
        "started_at": row["started_at"], "finished_at": row["finished_at"], "duration_s": row["duration_s"],
        "process": row["process"], "models": json.loads(row["models_json"] or "[]"), "resumed": row["resumed"],
        "items": ItemCounts.of(row).as_dict(),
        "reviewed": reviewed,
        "llm": llm,
        "error": row["error"],
        "resumable": status_of(row["status"]) in RESUMABLE or crashed(row),
    }


def duration(seconds: float | None) -> str:
    """``4.2 s``, ``4m 23s``, ``1h 02m``: short enough for a table column."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def when(stamp: str | None) -> str:
    """An ISO timestamp as ``2025-01-02 03:04:05`` (the ledger stores UTC)."""
    return "-" if not stamp else stamp[:19].replace("T", " ")


def held_text(held: int, reviewed: int) -> str:
    """Held for review, and how many of them a person has decided since: ``3 (2 reviewed)``."""
    return f"{held} ({reviewed} reviewed)" if reviewed else str(held)


def short_when(stamp: str | None) -> str:
    """An ISO timestamp as ``12-07 14:50`` (month-day, hours and minutes, UTC): the runs table's width."""
    return "-" if not stamp else stamp[5:16].replace("T", " ")


def list_runs(settings: Settings, limit: int, crew: str | None, json_mode: bool) -> int:
    """Print the ``limit`` most recent runs (of ``crew`` only, when given)."""
    from etlcrew.ledger.costs import tokens_by_model

    ledger = open_existing(settings)
    rows: list[dict[str, Any]] = []
    reviewed: dict[str, int] = {}
    calls: dict[str, list[tuple[str, int, int]]] = {}
    if ledger is not None:
        from etlcrew.ledger.reviews import reviewed_by_run

        try:
            rows = ledger.runs(limit, crew=crew)
            reviewed = reviewed_by_run(ledger, [r["run_id"] for r in rows])
            calls = tokens_by_model(ledger, [r["run_id"] for r in rows])
        finally:
            ledger.close()
    with contextlib.suppress(ConfigError):  # a broken prices.yaml must not stop anyone reading the ledger
        load_prices(settings.config_dir)
    records = [run_record(r, reviewed.get(r["run_id"], 0), calls.get(r["run_id"], [])) for r in rows]
    if json_mode:
        console.emit_json(records)
        return EXIT_OK
    if not records:
        which = f" of crew '{crew}'" if crew else ""
        console.info(f"no runs{which} yet; start one with: {command('run', *([crew] if crew else []))}")
        return EXIT_OK
    held = any(r["items"]["review"] for r in records)  # the review column only when a listed run held items
    table = []
    for record in records:
        items, llm = record["items"], record["llm"]
        review = [held_text(items["review"], record["reviewed"])] if held else []
        table.append([record["run_id"], record["crew"], record["status"], short_when(record["started_at"]),
                      duration(record["duration_s"]), items["loaded"], *review, items["quarantined"], items["skipped"],
                      items["pending"], llm["calls"], llm["prompt_tokens"] + llm["completion_tokens"],
                      cost_text(llm["cost_usd"])])
    # run, crew, status, start and cost always, whole; then as many counts as the width holds, most wanted first
    shift = 1 if held else 0  # the review column, shown only when a listed run held items, sits after loaded
    optional = (5, *([6] if held else []), 8 + shift, 9 + shift, 4, 6 + shift, 10 + shift, 7 + shift)
    console.table(None, ["run", "crew", "status", "started UTC", "duration", "loaded", *(["review"] if held else []),
                         "quarant.", "skipped", "pending", "calls", "tokens", "cost"], table, optional=optional)
    unknown = sorted({m for r in records if r["llm"]["cost_usd"] is None for m in unpriced(r["models"])})
    if unknown:
        console.info(f"cost '-': {', '.join(unknown)} has no price; {PRICE_HINT}")
    resumable = [r["run_id"] for r in records if r["resumable"]]
    if resumable:
        console.info(f"resume a run with: {resume_command(resumable[0])}; details: {show_command(resumable[0])}")
    return EXIT_OK
