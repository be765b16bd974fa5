"""Run one crew: build it from the validated project and kick it off, recording what it produced.

A crew without sources is kicked off once with its inputs (a plain CrewAI crew). A crew with sources runs the
data path (``pipeline.datapath``): items in batches through extract, transform and load. CrewAI must already be
prepared through ``etlcrew.crewai_env``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from etlcrew.errors import EtlcrewError, RunInterrupted
from etlcrew.pipeline.config_hash import relevant_config_hash
from etlcrew.pipeline.models import ModelChooser
from etlcrew.pipeline.options import RunOptions, ToolBox
from etlcrew.pipeline.run_result import RunResult
from etlcrew.settings import Settings
from etlcrew.specs.project import ProjectSpec
from etlcrew.tools.registry import ToolInfo

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.model_runtime.usage import CallRecord
    from etlcrew.observe.events import EventHub


def new_run_id() -> str:
    """Run ids sort by time (ULIDs)."""
    from ulid import ULID

    return str(ULID())


def run_crew(settings: Settings, project: ProjectSpec, tools: dict[str, ToolInfo], options: RunOptions,
             resume_of: str | None = None, run_id: str | None = None) -> RunResult:
    """Execute the crew (or continue run ``resume_of``) and return its result, recording it in the ledger.

    ``run_id`` is the id the caller took the crew's lock under (``ledger.crew_lock``); a new one otherwise.

    Exceptions propagate to the command (exit codes there) after the run is marked failed or interrupted; they
    carry the result as ``exc.run_result`` so ``--json`` can still print it.
    """
    from etlcrew.ledger import open_ledger
    from etlcrew.model_runtime.usage import UsageMeter, load_prices
    from etlcrew.observe.events import CrewaiBridge
    from etlcrew.pipeline.control import RunControl, stop_on_ctrl_c
    from etlcrew.pipeline.review_examples import with_review_examples
    from etlcrew.tools.scope import scope_for_crew, use_scope

    crew_spec = project.crews[options.crew]
    options = options.resolved_for(crew_spec)
    hashed = project  # reviewed examples are not hashed: a new review does not re-ask loaded items
    project = with_review_examples(settings, project, options.crew, options.only_items)
    load_prices(settings.config_dir)
    ledger = open_ledger(settings.state_dir)
    assert options.process is not None and options.concurrency is not None
    result = RunResult(run_id=resume_of or run_id or new_run_id(), crew=options.crew, process=options.process)
    started = time.monotonic()
    spent = (0, 0, 0.0)
    if resume_of:
        before, row = ledger.call_totals(resume_of), ledger.run(resume_of) or {}
        attempts = len(ledger.calls(resume_of))  # the budget counts every attempt, failed ones too
        spent = (attempts, before["prompt_tokens"] + before["completion_tokens"], row.get("duration_s") or 0.0)
    events, closers = _observers(settings, project, options.crew, result.run_id, options.verbose)
    record = _call_recorder(ledger, events, result.run_id)
    meter = UsageMeter(record)
    control = RunControl(options.budget(),
                         lambda: (meter.usage.calls, meter.usage.prompt_tokens + meter.usage.completion_tokens),
                         spent_before=spent)
    chooser = ModelChooser(project, options.crew, settings, options.model, options.base_url,
                           parallel=options.concurrency, should_stop=control.stop_requested,
                           reserve=control.reserve_call)
    models = chooser.planned_models()
    config_hash = relevant_config_hash(hashed, options, models)
    chooser.prepare()
    if resume_of:
        ledger.resume_run(resume_of)
    else:
        from etlcrew.pipeline.plan import plan_of_run

        try:
            plan = plan_of_run(settings, project, options, ledger, config_hash)  # before any item is touched
        except Exception:
            plan = None
        ledger.start_run(result.run_id, options.crew, options.inputs, config_hash,
                         options=asdict(options) | {"plan": plan})
    events.emit("run_started", detail={"crew": options.crew, "process": result.process, "models": models,
                                       "resumed": resume_of is not None, "inputs": options.inputs})
    try:
        with (meter, CrewaiBridge(events), stop_on_ctrl_c(control, _first_ctrl_c),
              use_scope(scope_for_crew(project, options.crew, settings))):
            if crew_spec.sources:
                from etlcrew.pipeline.datapath import DataPath

                if options.process == "graph":
                    from etlcrew.pipeline.graph.run import GraphPath as DataPath  # type: ignore[assignment]
                DataPath(settings, project, options, chooser, ToolBox(tools), result, ledger, config_hash, control,
                         events, resuming=resume_of is not None, record_call=meter.add_remote).run()
            else:
                _run_plain_within_budget(settings, project, options, chooser, ToolBox(tools), result, control)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt | RunInterrupted)
        result.status = "interrupted" if interrupted else "failed"
        result.error = result.error or f"{type(exc).__name__}: {exc}"[:2000]
        exc.run_result = result  # type: ignore[attr-defined]
        raise
    finally:
        try:
            _finish(ledger, result, spent[2] + time.monotonic() - started, models)
        finally:
            events.emit("run_finished", error=result.error, detail={
                "status": result.status, "items": result.items.as_dict(), "llm": result.llm,
                "outputs": result.outputs})
            _close_all(closers)
    return result


def _finish(ledger: Ledger, result: RunResult, duration_s: float, models: list[str]) -> None:
    """Record how the run ended. When even that fails (a full disk), the error carries the result, so the
    message still names the run to resume (``runs`` shows it interrupted: its process is gone)."""
    result.duration_s = duration_s
    result.models = models
    try:
        result.llm = _usage_from_ledger(ledger, result.run_id, models)
        summary = result.as_dict()  # runs.cost_usd holds the known part; readers derive the cost (ledger.costs)
        ledger.finish_run(summary | {"llm": summary["llm"] | {"cost_usd": summary["llm"]["cost_usd"] or 0.0}})
    except EtlcrewError as exc:
        if result.status == "running":
            result.status = "failed"
        exc.run_result = result  # type: ignore[attr-defined]
        raise
    finally:
        ledger.close()


def _call_recorder(ledger: Ledger, events: EventHub, run_id: str) -> Callable[[CallRecord], None]:
    """Each model call attempt: one ledger row and one event, with the task and agent at work in its batch."""

    def record(call: CallRecord) -> None:
        if call.task is None or call.agent is None:
            task, agent = events.at_work_in(call.batch_no)
            call = replace(call, task=call.task or task, agent=call.agent or agent)
        ledger.record_call(run_id, call.model, call.prompt_tokens, call.completion_tokens, call.latency_ms,
                           call.error, attempt=call.attempt, batch_no=call.batch_no, agent=call.agent, task=call.task)
        events.emit("llm_call_failed" if call.error else "llm_call", batch=call.batch_no, agent=call.agent,
                    task=call.task, model=call.model, prompt_tokens=call.prompt_tokens,
                    completion_tokens=call.completion_tokens, latency_ms=call.latency_ms, attempt=call.attempt,
                    error=call.error)

    return record


def _observers(settings: Settings, project: ProjectSpec, crew: str, run_id: str, verbose: bool
               ) -> tuple[EventHub, list[Callable[[], None]]]:
    """The run's event hub with its sinks (trace file, the display that suits this terminal, OpenTelemetry when
    asked), and what to close at the end."""
    from etlcrew.observe.display import make_display
    from etlcrew.observe.events import EventHub
    from etlcrew.observe.otel import otel_from_env
    from etlcrew.observe.trace import JsonlTrace, trace_path

    phase_of_task = {name: task.phase or name for name, task in project.tasks.items()}
    events = EventHub(run_id, phase_of_task)
    sinks: list[Any] = [JsonlTrace(trace_path(settings.state_dir, run_id)), make_display(verbose),
                        otel_from_env(run_id, crew)]
    for sink in sinks:
        if sink is not None:
            events.add(sink)
    return events, [sink.close for sink in sinks if sink is not None]


def _close_all(closers: list[Callable[[], None]]) -> None:
    """Close every sink; one that fails (its file on a full disk) is a warning, never the run's error."""
    from etlcrew import console

    for close in closers:
        try:
            close()
        except Exception as exc:
            console.warn(f"closing {getattr(close, '__self__', close).__class__.__name__} failed: {exc}")


def _first_ctrl_c(signal_name: str) -> None:
    from etlcrew import console

    what = "SIGTERM received; stopping" if signal_name == "SIGTERM" else "stopping"
    again = "a second SIGTERM" if signal_name == "SIGTERM" else "Ctrl-C again"
    console.warn(f"{what}: the model calls under way finish and are committed ({again} to stop at once)")


def _usage_from_ledger(ledger: Ledger, run_id: str, models: list[str]) -> dict[str, object]:
    """The run's calls, tokens and cost over all its attempts (a resumed run includes what it did before); the
    cost is ``None`` when a model has no price (``models``, as configured, name the providers)."""
    from etlcrew.model_runtime.usage import total_cost

    calls = ledger.calls(run_id)
    ok = [c for c in calls if c["error"] is None]
    return {"calls": len(ok), "failed_calls": len(calls) - len(ok),
            "prompt_tokens": sum(c["prompt_tokens"] for c in ok),
            "completion_tokens": sum(c["completion_tokens"] for c in ok),
            "cost_usd": total_cost(((c["model"], c["prompt_tokens"], c["completion_tokens"]) for c in ok), models)}


def _run_plain_within_budget(settings: Settings, project: ProjectSpec, options: RunOptions, chooser: ModelChooser,
                             toolbox: ToolBox, result: RunResult, control: Any) -> None:
    """A crew without sources; a call its budget refused ends it ``stopped`` (exit 3), like a data path run."""
    from etlcrew.model_runtime.resilience import CallsStopped
    from etlcrew.pipeline.run_result import budget_message, budget_resume_command

    try:
        _run_plain(settings, project, options, chooser, toolbox, result)
    except CallsStopped:
        if control.budget_stop is None:
            raise
        result.status = "stopped"
        result.error = (f"{budget_message(control.budget_stop, control.spent(), control.budget)}; continue with: "
                        f"{budget_resume_command(result.run_id, control.budget)}")


def _run_plain(settings: Settings, project: ProjectSpec, options: RunOptions, chooser: ModelChooser,
               toolbox: ToolBox, result: RunResult) -> None:
    import datetime as dt

    from etlcrew.crews.builder import build_crew
    from etlcrew.specs.placeholders import RUNTIME_PLACEHOLDERS

    runtime: dict[str, object] = dict.fromkeys(RUNTIME_PLACEHOLDERS, "(none)")
    runtime |= {"crew": options.crew, "run_id": result.run_id, "today": dt.date.today().isoformat()}
    crew = build_crew(project, options.crew, inputs=runtime | options.inputs, llm_for=chooser.llm_for,
                      tools_for=toolbox, project_dir=settings.project_dir, process=options.process)
    output = crew.kickoff()
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    path = settings.output_dir / f"{options.crew}-result.md"
    path.write_text(str(output.raw).strip() + "\n", encoding="utf-8")
    written = [path]
    for task in crew.tasks:
        path = getattr(task.callback, "path", None)  # tasks.builder.OutputWriter: the task's output_file
        if path is not None and path.is_file():
            written.append(path)
    result.outputs = [str(p) for p in written]
    result.status = "succeeded"
