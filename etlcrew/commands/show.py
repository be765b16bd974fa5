"""``show [RUN_ID]``: one run from the ledger (the latest without an id), phase by phase and agent by agent, as
text or one JSON object.

Reads the ledger only (no CrewAI); a unique prefix of the id will do. Calls are grouped by the task that made
them, mapped to its phase through ``tasks.yaml`` when it loads (``phase:`` or the task's name), else by the task
name; calls outside any task are under ``(no task)``. ``--json`` prints::

    {
      "run_id": "01JB...", "crew": "support_inbox", "status": "partial", "process": "sequential",
      "started_at": "...", "finished_at": "...", "duration_s": 12.3, "resumed": 0,
      "inputs": {"audience": "..."}, "models": ["scripted/x"], "error": null,
      "items": {"extracted": 30, "loaded": 27, "quarantined": 2, "skipped": 0, "review": 1, "pending": 0},
      "llm": {"calls": 12, "failed_calls": 1, "prompt_tokens": 11954, "completion_tokens": 2297, "cost_usd": 0.0},
      "phases": [
        {"phase": "extract", "batches_done": 3, "calls": 3, "failed_calls": 1, "retries": 1,
         "prompt_tokens": 4100, "completion_tokens": 30, "cost_usd": 0.0, "avg_latency_ms": 12.5,
         "max_latency_ms": 20.1,
         "agents": [{"agent": "Researcher", "task": "extract", "models": ["scripted"], "calls": 3, ...same counts,
                     "errors": [{"error": "ConnectionError: ...", "count": 1}]}]}
      ],
      "batches": {"landed": 3},
      "quarantined": [{"item_id": "inbox:0007.eml", "source": "inbox", "reason": "..."}],
      "reviewed": 1,
      "review": [{"item_id": "inbox:0009.eml", "reason": "summary repeated verbatim by inbox:0010.eml",
                  "decision": "correct", "reviewer": "ana"}],
      "webhook_deliveries": 0,
      "deliveries": [{"target": "notify:output/actions.jsonl", "item_id": "inbox:0003.eml", "status": "delivered",
                      "attempts": 1, "runs": 1, "last_error": null, "enqueued_by": "01JB...",
                      "delivered_at": "..."}],
      "outcome": {"digest": "30 items processed ...", "action_item_ids": ["inbox:0003-doorbell-offline-urgent.eml"],
                  "digest_source": "model", "held_item_ids": [], "note": null},
      "outputs": ["output/support_inbox.duckdb", "output/support_inbox-report.md"],
      "resume": null,
      "plan": {"calls": {"transform": 30, "load": 1, "total": 31}, "prompt_tokens": 33805, ...},
      "routes": {"transform->validate": 31, "validate->land": 27, "validate->approve": 1, ...},
      "waiting": ["inbox:0003.eml"]
    }

``plan`` is the estimate the run made before it started (``run --dry-run --json``'s object; null for runs
recorded before estimates were stored).

``outcome`` is the run's one digest and action list (``pipeline.outcome``), ``null`` before its last batch landed.
``routes`` (``process: graph`` runs; ``{}`` otherwise) counts the items that took each edge of the graph;
``waiting`` lists the items that wait for ``approve RUN_ID ITEM|--all``.

``resume`` is the command to continue the run when it failed, was interrupted, stopped on its budget or
crashed (still marked running, its process gone: shown as ``interrupted``). A run still running shows its counts
so far. ``reviewed`` counts the held items a person has decided since; each held item carries that ``decision``
(accept, correct, discard) and its ``reviewer``, or ``null``. ``webhook_deliveries`` counts the webhook POSTs the
run delivered; ``deliveries`` lists every action delivery (webhook or notify, ``pipeline.outbox``) the run enqueued
or last tried: pending, delivered, failed or given_up, with its attempts, the runs that tried it and the last error.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from etlcrew import console
from etlcrew.commands.ledger_access import find_run
from etlcrew.commands.runs import duration, run_record, when
from etlcrew.errors import EXIT_OK, ConfigError
from etlcrew.model_runtime.usage import load_prices
from etlcrew.pipeline.run_result import ItemCounts, llm_usage, outcome_lines, resume_command, summary_lines
from etlcrew.printable import one_line
from etlcrew.settings import Settings

PHASE_ORDER = ("extract", "transform", "load")
NO_TASK = "(no task)"
ERROR_CHARS = 200
ERRORS_PER_AGENT = 5
_COUNTS = ("calls", "failed_calls", "retries", "prompt_tokens", "completion_tokens")


def task_phases(settings: Settings) -> dict[str, str]:
    """Task name -> phase from ``tasks.yaml``; empty when the config does not load (then task names are shown)."""
    try:
        from etlcrew.specs.loader import load_project

        project = load_project(settings.config_dir, check_references=False)
    except Exception:  # a broken or moved config must not stop anyone reading the ledger
        return {}
    return {name: task.phase or name for name, task in project.tasks.items()}


def _metrics(rows: list[dict[str, Any]], configured: list[str]) -> dict[str, Any]:
    from etlcrew.model_runtime.usage import total_cost

    out: dict[str, Any] = {k: sum(int(r[k] or 0) for r in rows) for k in _COUNTS}
    out["cost_usd"] = total_cost(((r["model"], int(r["prompt_tokens"]), int(r["completion_tokens"]))
                                  for r in rows if int(r["calls"] or 0)), configured)
    timed = sum(int(r["latency_n"]) for r in rows)
    out["avg_latency_ms"] = round(sum(float(r["latency_sum_ms"]) for r in rows) / timed, 1) if timed else None
    peaks = [float(r["max_latency_ms"]) for r in rows if r["max_latency_ms"] is not None]
    out["max_latency_ms"] = round(max(peaks), 1) if peaks else None
    return out


def _short(text: str, limit: int = ERROR_CHARS) -> str:
    text = one_line(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def phase_breakdown(breakdown: list[dict[str, Any]], errors: list[dict[str, Any]], phase_of: dict[str, str],
                    batches_done: dict[str, int], configured: list[str]) -> list[dict[str, Any]]:
    """The ledger's (task, agent, model) rows grouped by phase, then agent; pipeline phases first, in order."""
    by_phase: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for row in breakdown:
        task = row["task"] or NO_TASK
        by_phase.setdefault(phase_of.get(task, task), {}).setdefault((row["agent"] or "-", task), []).append(row)
    errors_of: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in errors:
        errors_of.setdefault((row["agent"] or "-", row["task"] or NO_TASK), []).append(
            {"error": _short(row["error"]), "count": int(row["n"])})
    order = [p for p in PHASE_ORDER if p in by_phase] + [p for p in by_phase if p not in PHASE_ORDER]
    phases = []
    for phase in order:
        agents = []
        for (agent, task), rows in by_phase[phase].items():
            agents.append({"agent": agent, "task": task, "models": sorted({r["model"] for r in rows}),
                           **_metrics(rows, configured), "errors": errors_of.get((agent, task), [])[:ERRORS_PER_AGENT]})
        every = [r for rows in by_phase[phase].values() for r in rows]
        phases.append({"phase": phase, "batches_done": batches_done.get(phase, 0), **_metrics(every, configured),
                       "agents": agents})
    return phases


def run_details(settings: Settings, run_id: str | None) -> dict[str, Any]:
    """Everything ``show`` prints, as the documented JSON object."""
    from etlcrew.ledger import graph_store, open_ledger
    from etlcrew.ledger.reviews import decisions_of_run
    from etlcrew.pipeline.journal import BatchOutcome
    from etlcrew.pipeline.outcome import stored_outcome

    row = find_run(settings, run_id)
    with contextlib.suppress(ConfigError):  # a broken prices.yaml must not stop anyone reading the ledger
        load_prices(settings.config_dir)
    ledger = open_ledger(settings.state_dir)
    try:
        run_id = row["run_id"]
        breakdown, errors = ledger.call_breakdown(run_id), ledger.call_errors(run_id)
        outcomes = [BatchOutcome.from_json(n, text) for n, text in ledger.outcomes(run_id)]
        batches, phases_done = ledger.batch_counts(run_id), ledger.phase_counts(run_id)
        sent_hooks = ledger.delivered_count(run_id, "webhook")
        deliveries = [_delivery(d) for d in ledger.deliveries(run_id)]
        decided = decisions_of_run(ledger, run_id)
        outcome = stored_outcome(ledger, run_id)
        routes, waiting = graph_store.route_counts(ledger, run_id), graph_store.waiting_items(ledger, run_id)
    finally:
        ledger.close()
    record = run_record(row, len(decided))
    details = {k: v for k, v in record.items() if k != "resumable"}
    details["llm"]["cost_usd"] = _metrics(breakdown, details["models"])["cost_usd"]
    details["inputs"] = json.loads(row["inputs_json"] or "{}")
    if row["status"] == "running":  # not finished: the row's counts are not written yet, count what landed
        details["items"] = ItemCounts.of(details["items"] | {
            "loaded": sum(len(o.records) for o in outcomes), "quarantined": sum(len(o.quarantined) for o in outcomes),
            "review": sum(len(o.review) for o in outcomes)}).as_dict()
        details["llm"] = llm_usage(_metrics(breakdown, details["models"]) if breakdown else {})
    details["phases"] = phase_breakdown(breakdown, errors, task_phases(settings), phases_done, details["models"])
    details["batches"] = batches
    details["quarantined"] = sorted(({"item_id": q.item_id, "source": q.source, "reason": q.reason}
                                     for o in outcomes for q in o.quarantined), key=lambda q: q["item_id"])
    details["review"] = sorted(({"item_id": r.item_id, "reason": r.reason,
                                "decision": (decided.get(r.item_id) or {}).get("decision"),
                                "reviewer": (decided.get(r.item_id) or {}).get("reviewer")}
                               for o in outcomes for r in o.review), key=lambda r: r["item_id"])
    details["webhook_deliveries"] = sent_hooks
    details["deliveries"] = deliveries
    details["outcome"] = outcome
    details["outputs"] = json.loads(row["outputs_json"] or "[]")
    details["resume"] = resume_command(run_id) if record["resumable"] else None
    details["plan"] = json.loads(row.get("options_json") or "{}").get("plan")  # the estimate made at its start
    details["routes"], details["waiting"] = routes, waiting
    return details


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    return {"target": row["target"], "item_id": row["item_id"], "status": row["status"],
            "attempts": int(row["attempts"]), "runs": int(row["rounds"]), "last_error": row["last_error"],
            "enqueued_by": row["run_id"], "delivered_at": row["delivered_at"]}


def print_deliveries(deliveries: list[dict[str, Any]]) -> None:
    """The action deliveries, a line each: target, item, status, attempts, the last error."""
    if not deliveries:
        return
    counts = ", ".join(f"{n} {status}" for status, n in sorted(_statuses(deliveries).items()))
    console.out(f"\ndeliveries ({counts}):")
    rows = [[d["target"], d["item_id"], d["status"], d["attempts"], _short(d["last_error"] or "-", 60)]
            for d in deliveries]
    console.table(None, ["target", "item", "status", "attempts", "last error"], rows)


def _statuses(deliveries: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in deliveries:
        out[d["status"]] = out.get(d["status"], 0) + 1
    return out
def plan_line(details: dict[str, Any]) -> str | None:
    """The run's estimate beside what it spent (runs from before estimates were stored have none)."""
    plan, llm = details.get("plan"), details["llm"]
    if not plan:
        return None
    seconds = "-" if plan.get("seconds") is None else f"~{plan['seconds']:,.0f} s"
    at_least = "" if plan.get("exact", True) else ">="
    pairs = [("calls", f"{at_least}{plan['calls']['total']}", f"{llm['calls']}"),
             ("prompt tokens", f"~{plan['prompt_tokens']:,}", f"{llm['prompt_tokens']:,}"),
             ("completion tokens", f"~{plan['completion_tokens']:,}", f"{llm['completion_tokens']:,}"),
             ("time", seconds, duration(details["duration_s"])),
             ("cost", f"${plan['cost_usd']:.4f}", f"${llm['cost_usd']:.4f}")]
    return "  estimate / actual: " + ", ".join(f"{name} {e} / {a}" for name, e, a in pairs)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def print_details(details: dict[str, Any], row_status: str) -> None:
    """The human view: the run, a table per phase and agent, errors, quarantined items, outputs."""
    console.out(f"run {details['run_id']}  crew {details['crew']}  status {row_status}")
    console.out(f"  started {when(details['started_at'])} UTC, finished {when(details['finished_at'])} UTC "
                f"({duration(details['duration_s'])}), process {details['process'] or '-'}"
                + (f", resumed {details['resumed']}x" if details["resumed"] else ""))
    if details["inputs"]:
        console.out("  inputs: " + one_line(", ".join(f"{k}={v}" for k, v in sorted(details["inputs"].items()))))
    for line in summary_lines(details):
        console.out(line)
    estimate = plan_line(details)
    if estimate:
        console.out(estimate)
    batches = ", ".join(f"{n} {state}" for state, n in sorted(details["batches"].items())) or "none"
    console.out(f"  batches: {batches}; webhook deliveries: {details['webhook_deliveries']}")
    for path in details["outputs"]:
        console.out(f"  output: {one_line(path)}")
    for line in outcome_lines(details["outcome"]):
        console.out(line)
    if details["error"]:
        console.out(f"  error: {_short(details['error'], 300)}")
    rows = [[phase["phase"], agent["agent"], agent["task"], agent["calls"], agent["failed_calls"], agent["retries"],
             agent["prompt_tokens"], agent["completion_tokens"], _ms(agent["avg_latency_ms"]),
             _ms(agent["max_latency_ms"])]
            for phase in details["phases"] for agent in phase["agents"]]
    if rows:
        console.out()
        console.table(None, ["phase", "agent", "task", "calls", "failed", "retries", "prompt tok", "compl. tok",
                             "avg ms", "max ms"], rows, optional=(4, 8, 5, 9))
    errors = [(phase["phase"], agent["agent"], e) for phase in details["phases"] for agent in phase["agents"]
              for e in agent["errors"]]
    if errors:
        console.out("\nerrors:")
        for phase, agent, error in errors:
            console.out(f"  {phase} / {agent} ({error['count']}x): {error['error']}")
    quarantined = details["quarantined"]
    if quarantined:
        console.out(f"\nquarantined ({len(quarantined)}):")
        for q in quarantined:
            console.out(f"  {one_line(q['item_id'])}: {_short(q['reason'], 160)}")
    if details["review"]:
        console.out(f"\nheld for review ({len(details['review'])}, {details['reviewed']} reviewed since):")
        for r in details["review"]:
            done = f"  [{r['decision']} by {r['reviewer']}]" if r.get("decision") else ""
            console.out(f"  {one_line(r['item_id'])}: {_short(r['reason'], 160)}{done}")
    print_deliveries(details["deliveries"])
    _print_routes(details)
    if details["resume"]:
        console.out(f"\nresume: {details['resume']}")


def _print_routes(details: dict[str, Any]) -> None:
    """A graph run's routes: each edge with the items that took it, then the items waiting for approval."""
    if details["routes"]:
        console.out("\nroutes (items per edge):")
        for edge, count in sorted(details["routes"].items(), key=lambda e: (-e[1], e[0])):
            source, target = edge.split("->")
            console.out(f"  {source:>10} -> {target:<11} {count}")
    if details["waiting"]:
        console.out(f"\nwaiting for approval ({len(details['waiting'])}): approve with "
                    f"python main.py approve {details['run_id']} ITEM|--all")
        for item_id in details["waiting"]:
            console.out(f"  {item_id}")


def show_run(settings: Settings, run_id: str | None, json_mode: bool) -> int:
    """Print one run (a unique prefix of its id will do; ``None``: the latest); exit 2 when no run or several
    match."""
    details = run_details(settings, run_id)
    if json_mode:
        console.emit_json(details)
        return EXIT_OK
    print_details(details, details["status"])
    return EXIT_OK
