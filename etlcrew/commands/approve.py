"""``approve RUN_ID ITEM|--all``: let items of a ``process: graph`` run that wait in ``approve`` land.

The approval is recorded in the ledger first, then the run is continued (as ``resume`` does, also when the run
finished as partial): each approved item's LangGraph thread resumes after its ``interrupt()`` and lands; items
not approved keep waiting.
"""

from __future__ import annotations

from etlcrew import console
from etlcrew.commands.ledger_access import find_run
from etlcrew.errors import UsageError
from etlcrew.settings import Settings


def approve(settings: Settings, run_id: str, item: str | None, *, every: bool, json_mode: bool,
            verbose: bool = False) -> int:
    """Mark the item (or every waiting item) approved, then continue the run so they land."""
    from etlcrew.commands.resume import continue_run
    from etlcrew.ledger import graph_store, open_ledger

    if (item is None) == (not every):
        raise UsageError("name one item, or pass --all (not both)", "python main.py approve RUN_ID --all")
    row = find_run(settings, run_id)  # its process column is written when it finishes: not a check for a crashed run
    ledger = open_ledger(settings.state_dir)
    try:
        waiting = graph_store.waiting_items(ledger, row["run_id"])
        marked = graph_store.approve(ledger, row["run_id"], None if every else [item or ""])
    finally:
        ledger.close()
    if not marked and not [i for i in waiting if every or i == item]:  # approved before: continue again
        raise UsageError(f"no item {'' if every else repr(item) + ' '}of run {row['run_id']} waits for approval",
                         f"see what waits with: python main.py show {row['run_id']}")
    console.info(f"approved {len(marked)} item(s) of run {row['run_id']}: landing them")
    return continue_run(settings, row, force=False, json_mode=json_mode, verbose=verbose)
