"""Finding runs in the ledger for the commands that read it (``resume``, ``runs``, ``show``).

Kept apart from the command bodies so the read-only commands import neither CrewAI nor the pipeline.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from etlcrew.errors import UsageError
from etlcrew.invocation import command
from etlcrew.settings import Settings

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger

PLAIN_ID = re.compile(r"[0-9A-Za-z]+")  # run ids are ULIDs; a prefix of them is matched as text, never a pattern


def open_existing(settings: Settings) -> Ledger | None:
    """The ledger, or None when no run was ever recorded here: reading must not create state."""
    from etlcrew import ledger

    return ledger.open_existing(settings.state_dir)


def find_run(settings: Settings, run_id: str | None) -> dict[str, Any]:
    """The ledger row of ``run_id`` (or of the one run whose id starts with it; ``None``: the latest run of any
    crew, what a person who just ran one means); exit 2 when none or several."""
    if run_id is None:
        return _latest_run(settings)
    if not PLAIN_ID.fullmatch(run_id):
        raise UsageError(f"'{run_id}' is not a run id: run ids are letters and digits only",
                         f"copy the id (or its first characters) from: {command('runs')}")
    ledger = open_existing(settings)  # reading creates no state
    if ledger is None:
        raise UsageError(f"no run '{run_id}': no run recorded yet in {settings.state_dir}",
                         f"run a crew with: {command('run')}")
    try:
        ids = ledger.matching_run_ids(run_id)
        if len(ids) > 1 and run_id.upper() not in ids:
            raise UsageError(f"run id '{run_id}' is ambiguous: {', '.join(ids[:5])}", "type more of the id")
        if not ids:
            raise UsageError(f"no run '{run_id}' in {ledger.path}", f"list runs with: {command('runs')}")
        return ledger.run(run_id.upper() if run_id.upper() in ids else ids[0]) or {}
    finally:
        ledger.close()


def _latest_run(settings: Settings) -> dict[str, Any]:
    ledger = open_existing(settings)
    try:
        latest = ledger.runs(limit=1) if ledger is not None else []
    finally:
        if ledger is not None:
            ledger.close()
    if not latest:
        raise UsageError(f"no run recorded yet in {settings.state_dir}", f"run a crew with: {command('run')}")
    return latest[0]


def process_alive(pid: int | None) -> bool:
    """Whether the process that wrote a 'running' row still exists (if not, the run crashed: resume it)."""
    if not pid or pid == os.getpid():
        return False
    from etlcrew.os_compat import pid_alive

    return pid_alive(pid)
