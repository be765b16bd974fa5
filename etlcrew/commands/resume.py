"""``resume RUN_ID``: continue a run that crashed, was interrupted or stopped on its budget.

The run's own options (crew, inputs, models, batch size...) come from the ledger; budget flags given here
replace the stored ones. Finished runs are left alone. A run whose relevant config changed since it started is
refused unless ``--force``: its committed phases were produced under the old config.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.commands.ledger_access import find_run, process_alive
from etlcrew.commands.project import load_checked
from etlcrew.errors import EXIT_OK, ConfigError, ConfigProblem, UsageError
from etlcrew.settings import Settings

if TYPE_CHECKING:
    from etlcrew.pipeline.options import RunOptions
    from etlcrew.specs.project import ProjectSpec

FINISHED = ("succeeded", "partial")


def resume(settings: Settings, run_id: str, *, force: bool, json_mode: bool,
           budget: dict[str, float | None] | None = None, verbose: bool = False) -> int:
    """Continue the run; a finished run is a no-op that prints its summary again."""
    from etlcrew.commands.run import print_summary

    row = find_run(settings, run_id)
    if row["status"] in FINISHED:
        console.info(f"run {row['run_id']} already finished ({row['status']}): nothing to resume")
        outcome = _outcome_of(settings, row["run_id"])
        summary = _summary_of(row) | ({"outcome": outcome} if outcome else {})
        console.emit_json(summary) if json_mode else print_summary(summary)
        return EXIT_OK
    return continue_run(settings, row, force=force, json_mode=json_mode, budget=budget, verbose=verbose)


def continue_run(settings: Settings, row: dict[str, Any], *, force: bool, json_mode: bool,
                 budget: dict[str, float | None] | None = None, verbose: bool = False) -> int:
    """Run ``row``'s run on from where it is (``resume``; ``approve``, which continues a finished graph run)."""
    from dataclasses import fields

    from etlcrew.commands.run import execute
    from etlcrew.pipeline.options import RunOptions

    if row["status"] == "running" and process_alive(row.get("pid")):
        raise UsageError(f"run {row['run_id']} is still running (process {row['pid']})",
                         "wait for it, or stop it with Ctrl-C first")
    project, tools = load_checked(settings)
    stored = json.loads(row["options_json"] or "{}")
    known = {f.name for f in fields(RunOptions)}
    options = RunOptions(**{k: v for k, v in stored.items() if k in known} | {
        k: v for k, v in (budget or {}).items() if v is not None} | {"verbose": verbose})
    if options.crew not in project.crews:
        raise ConfigError([ConfigProblem(project.file_of("crews"), f"crew '{options.crew}' of run {row['run_id']} "
                                         "is no longer defined", hint="restore it, or start a new run")])
    _check_config(settings, project, options, row, force)
    console.info(f"resuming run {row['run_id']} of crew '{options.crew}' (was {row['status']})")
    return execute(settings, project, tools, options, json_mode, resume_of=row["run_id"])


def _check_config(settings: Settings, project: ProjectSpec, options: RunOptions, row: dict[str, Any],
                  force: bool) -> None:
    from etlcrew.pipeline.config_hash import relevant_config_hash
    from etlcrew.pipeline.models import ModelChooser

    plan = options.resolved_for(project.crews[options.crew])
    chooser = ModelChooser(project, options.crew, settings, options.model, options.base_url)
    now = relevant_config_hash(project, plan, chooser.planned_models())
    if now == row["config_hash"]:
        return
    message = (f"the config of crew '{options.crew}' changed since run {row['run_id']} started "
               "(agents, tasks, schema, sources, targets or models)")
    if not force:
        raise ConfigError([ConfigProblem(project.file_of("crews"), message,
                                         hint="undo the change, start a new run, or add --force to resume anyway "
                                              "(phases already done keep their old-config output)")])
    console.warn(message + "; resuming anyway (--force)")


def _outcome_of(settings: Settings, run_id: str) -> dict[str, Any] | None:
    from etlcrew.ledger import open_ledger
    from etlcrew.pipeline.outcome import stored_outcome

    ledger = open_ledger(settings.state_dir)
    try:
        return stored_outcome(ledger, run_id)
    finally:
        ledger.close()


def _summary_of(row: dict[str, Any]) -> dict[str, Any]:
    """A finished run's summary from its ledger row (same shape as ``run --json``)."""
    return {
        "run_id": row["run_id"], "crew": row["crew"], "status": row["status"],
        "items": {"extracted": row["extracted"], "loaded": row["loaded"], "quarantined": row["quarantined"],
                  "skipped": row["skipped"], "review": row.get("review") or 0, "pending": 0},
        "llm": {"calls": row["calls"], "failed_calls": row["failed_calls"], "prompt_tokens": row["prompt_tokens"],
                "completion_tokens": row["completion_tokens"], "cost_usd": row["cost_usd"]},
        "outputs": json.loads(row["outputs_json"]), "duration_s": row["duration_s"] or 0.0,
        "process": row["process"] or "", "models": json.loads(row["models_json"]),
    }
