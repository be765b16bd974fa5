"""``review``: clear the review queue, in a terminal (``review_tui``) or through a CSV file (``review_io``).

Never imports CrewAI: it reads the ledger, re-reads item text from the sources and lands decisions with dlt.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.commands.project import load_checked, pick_crew
from etlcrew.errors import EXIT_OK, UsageError
from etlcrew.settings import Settings

if TYPE_CHECKING:
    from etlcrew.pipeline.review_queue import HeldItem
    from etlcrew.specs.datapath import SchemaSpec


def default_reviewer() -> str:
    """``$USER``, else the login name, else 'unknown': who decided, as the ledger records it."""
    try:
        return os.environ.get("USER") or getpass.getuser() or "unknown"
    except Exception:  # getuser raises without a passwd entry (containers)
        return "unknown"


def review(settings: Settings, crew: str | None, *, export: str | None = None, import_file: str | None = None,
           list_only: bool = False, json_mode: bool = False, reviewer: str | None = None) -> int:
    """Dispatch to the list, the CSV export or import, or the interactive review (a terminal only)."""
    from etlcrew.commands.ledger_access import open_existing

    chosen = [flag for flag, on in (("--export", export), ("--import", import_file), ("--list", list_only)) if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} cannot be used together", "use one of them")
    if not chosen and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the interactive review needs a terminal",
                         "use --list to see what is held, --export FILE.csv and --import FILE.csv to decide in a file")
    project, _ = load_checked(settings)
    name = pick_crew(project, crew)
    schema = project.crews[name].output_schema
    if schema is None:
        raise UsageError(f"crew '{name}' has no schema, so nothing of it is ever held for review",
                         "review a crew with sources and a schema")
    ledger = open_existing(settings)
    if ledger is None:  # reading must not create state: no run was ever recorded here, so nothing is held
        if import_file:
            raise UsageError(f"nothing of crew '{name}' is held: no run is recorded in {settings.state_dir}",
                             "import in the project (or ETLCREW_HOME) whose run held the items")
        if list_only and json_mode:
            console.emit_json({"crew": name, "held": []})
        else:
            console.info(f"nothing of crew '{name}' is held for review (no run recorded yet)")
        return EXIT_OK
    try:
        who = reviewer or default_reviewer()
        if list_only:
            return list_held(ledger, name, schema, json_mode)
        if export:
            from etlcrew.commands.review_io import export_csv

            return export_csv(ledger, name, schema, Path(export))
        if import_file:
            from etlcrew.commands.review_io import import_csv

            return import_csv(settings, project, ledger, name, Path(import_file), who)
        from etlcrew.commands.review_tui import review_in_terminal

        return review_in_terminal(settings, project, ledger, name, who)
    finally:
        ledger.close()


def held_as_dict(held: HeldItem, schema: SchemaSpec) -> dict[str, Any]:
    """One held item as ``--list --json`` and the export give it: the model's values and probabilities."""
    return {"item_id": held.item_id, "run_id": held.run_id, "reason": held.reason,
            "lowest_probability": held.lowest if held.confidence else None,
            "fields": held.suggestion(schema)}


def list_held(ledger: Any, crew: str, schema: SchemaSpec, json_mode: bool) -> int:
    from etlcrew.pipeline.review_queue import held_queue

    queue = held_queue(ledger, crew)
    if json_mode:
        console.emit_json({"crew": crew, "held": [held_as_dict(h, schema) for h in queue]})
        return EXIT_OK
    if not queue:
        console.info(f"nothing of crew '{crew}' is held for review")
        return EXIT_OK
    rows = [[h.item_id, f"{h.lowest:.2f}" if h.confidence else "-", h.reason] for h in queue]
    console.table(f"held for review: {len(queue)} ({crew})", ["item", "lowest p", "reason"], rows, whole=(0,))
    return EXIT_OK
