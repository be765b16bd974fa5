"""``runs``: the most recent runs from the ledger, newest first, as a table or a JSON array.

Reads the ledger only: imports neither CrewAI nor the data path (only its summary shape, ``pipeline.run_result``),
and creates no state when nothing ran yet.
``--json`` prints an array (``[]`` when there is no run), one object per run::

    {
      "run_id": "01JB...", "crew": "support_inbox", "status": "succeeded",
      "started_at": "2025-01-02T03:04:05+00:00", "finished_at": "2025-01-02T03:08:28+00:00",
      "duration_s": 263.1, "process": "sequential", "models": ["local/smollm2-135m"], "resumed": 0,
      "items": {"extracted": 30, "loaded": 30, "quarantined": 0, "skipped": 0, "review": 0, "pending": 0},
      "llm": {"calls": 9, "failed_calls": 0, "prompt_tokens": 11220, "completion_tokens": 2048, "cost_usd": 0.0},
      "error": null,
      "resumable": false
    }

``items`` and ``llm`` have the shape of ``run --json``. A run still marked ``running`` whose process is gone
(killed, machine restarted) is shown as ``interrupted``, ``resumable`` true, with its resume command.
"""

from __future__ import annotations

import json
from typing import Any

from etlcrew import console
from etlcrew.commands.ledger_access import open_existing, process_alive
from etlcrew.errors import EXIT_OK
from etlcrew.pipeline.run_result import ItemCounts, llm_usage, resume_command, show_command
from etlcrew.settings import Settings

RESUMABLE = ("failed", "interrupted", "stopped-by-budget")


def crashed(row: dict[str, Any]) -> bool:
    """A run marked running whose process no longer exists (killed, machine restarted)."""
    return row["status"] == "running" and not process_alive(row.get("pid"))


def run_record(row: dict[str, Any]) -> dict[str, Any]:
    """One ledger ``runs`` row as the documented JSON object."""
    return {
        "run_id": row["run_id"], "crew": row["crew"], "status": "interrupted" if crashed(row) else row["status"],
        "started_at": row["started_at"], "finished_at": row["finished_at"], "duration_s": row["duration_s"],
        "process": row["process"], "models": json.loads(row["models_json"] or "[]"), "resumed": row["resumed"],
        "items": ItemCounts.of(row).as_dict(),
        "llm": llm_usage(row),
        "error": row["error"],
        "resumable": row["status"] in RESUMABLE or crashed(row),
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



def list_runs(settings: Settings, limit: int, crew: str | None, json_mode: bool) -> int:
    """Print the ``limit`` most recent runs (of ``crew`` only, when given)."""
    ledger = open_existing(settings)
    rows: list[dict[str, Any]] = []
    if ledger is not None:
        try:
            rows = ledger.runs(limit, crew=crew)
        finally:
            ledger.close()
    records = [run_record(r) for r in rows]
    if json_mode:
        console.emit_json(records)
        return EXIT_OK
    if not records:
        which = f" of crew '{crew}'" if crew else ""
        console.info(f"no runs{which} yet; start one with: python main.py run" + (f" {crew}" if crew else ""))
        return EXIT_OK
    table = []
    for record in records:
        items, llm = record["items"], record["llm"]
        table.append([record["run_id"], record["crew"], record["status"], when(record["started_at"]),
                      duration(record["duration_s"]), items["loaded"], items["quarantined"], items["skipped"],
                      items["pending"], llm["calls"], llm["prompt_tokens"] + llm["completion_tokens"],
                      f"${llm['cost_usd']:.4f}"])
    console.table(None, ["run", "crew", "status", "started (UTC)", "duration", "loaded", "quarantined", "skipped",
                         "pending", "calls", "tokens", "cost"], table, whole=(0,))
    resumable = [r["run_id"] for r in records if r["resumable"]]
    if resumable:
        console.info(f"resume a run with: {resume_command(resumable[0])}; details: {show_command(resumable[0])}")
    return EXIT_OK
