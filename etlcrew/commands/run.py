"""``run``: validate, then execute one crew and print its summary (or one JSON object with ``--json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from etlcrew import console
from etlcrew.commands.project import crew_inputs, load_checked, parse_inputs, pick_crew
from etlcrew.crewai_env import import_crewai, quiet_crewai_logging
from etlcrew.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STOPPED,
    EtlcrewError,
    RunInterrupted,
    RunTerminated,
    UsageError,
    plain_os_error,
)
from etlcrew.invocation import command, install_hint
from etlcrew.settings import Settings

if TYPE_CHECKING:
    from etlcrew.pipeline.options import RunOptions
    from etlcrew.specs.project import ProjectSpec
    from etlcrew.tools.registry import ToolInfo


def run(settings: Settings, *, crew: str | None, input_pairs: tuple[str, ...], process: str | None,
        model: str | None, base_url: str | None, batch_size: int | None, concurrency: int | None,
        json_mode: bool, full_refresh: bool = False, budget: dict[str, float | None] | None = None,
        verbose: bool = False, executor: str = "local", ray_address: str | None = None,
        retry_review: bool = False) -> int:
    """Everything is checked before CrewAI is imported; then the crew runs and the summary is printed."""
    project, tools = load_checked(settings)
    name = pick_crew(project, crew)
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise UsageError("--executor ray needs Ray", hint=install_hint("ray"))
        import os

        from etlcrew.pipeline.executors import reachable

        if ray_address or os.environ.get("RAY_ADDRESS"):
            reachable(ray_address or os.environ["RAY_ADDRESS"])  # before the run starts, not minutes into it
    if (process or project.crews[name].process) == "graph":
        from etlcrew.pipeline.graph import INSTALL, langgraph_installed

        if not langgraph_installed():
            raise UsageError("process: graph needs LangGraph, which is not installed", hint=INSTALL)
    inputs = crew_inputs(project, name, parse_inputs(input_pairs))
    console.info(f"running crew '{name}' ({process or project.crews[name].process})")
    from etlcrew.pipeline.options import RunOptions

    options = RunOptions(crew=name, inputs=inputs, process=process, model=model, base_url=base_url,
                         batch_size=batch_size, concurrency=concurrency, full_refresh=full_refresh, verbose=verbose,
                         executor=executor, ray_address=ray_address, retry_review=retry_review, **(budget or {}))
    return execute(settings, project, tools, options, json_mode)


def execute(settings: Settings, project: ProjectSpec, tools: dict[str, ToolInfo], options: RunOptions,
            json_mode: bool, resume_of: str | None = None) -> int:
    """Run (or resume) with stdout kept for our own output, then print the summary or the JSON object.

    A run that fails or is interrupted still prints its JSON object with ``--json``, then its error. The crew's
    lock and its targets are checked first, before CrewAI is imported and before any model call or ledger write.
    """
    from etlcrew.ledger.crew_lock import crew_lock
    from etlcrew.pipeline.runner import new_run_id
    from etlcrew.pipeline.targets.preflight import check_stores_open, check_targets

    run_id = resume_of or new_run_id()
    with crew_lock(settings.state_dir, options.crew, run_id):
        check_targets(settings, project, options.crew, full_refresh=options.full_refresh and not resume_of)
        check_stores_open(settings, project, options.crew)
        return _execute_locked(settings, project, tools, options, json_mode, run_id, resume_of)


def _execute_locked(settings: Settings, project: ProjectSpec, tools: dict[str, ToolInfo], options: RunOptions,
                    json_mode: bool, run_id: str, resume_of: str | None) -> int:
    import_crewai(settings.state_dir)
    quiet_crewai_logging()
    from etlcrew.pipeline.runner import run_crew

    try:
        # CrewAI prints some warnings and its verbose output on stdout: keep stdout for our own output only
        with console.foreign_output():
            result = run_crew(settings, project, tools, options, resume_of=resume_of, run_id=run_id)
    except BaseException as exc:
        partial = getattr(exc, "run_result", None)
        if partial is None:  # stopped before the run was recorded: there is nothing to resume
            raise
        if json_mode:
            console.emit_json(partial.as_dict())
        from etlcrew.pipeline.run_result import with_resume_hint

        if isinstance(exc, KeyboardInterrupt):
            from etlcrew.pipeline.control import Terminated

            stopped = RunTerminated if isinstance(exc, Terminated) else RunInterrupted
            raise stopped(stopped.word, hint=with_resume_hint(None, partial.run_id)) from None
        if isinstance(exc, EtlcrewError):
            exc.hint = with_resume_hint(exc.hint, partial.run_id)
        elif plain_os_error(exc) is not None:  # a full disk, a read-only folder: the path and the fix
            plain = plain_os_error(exc)
            raise EtlcrewError(plain.message, hint=with_resume_hint(plain.hint, partial.run_id)) from exc
        elif isinstance(exc, Exception):  # unexpected: the CLI prints it; the run id must not be lost
            raise EtlcrewError(f"unexpected {type(exc).__name__}: {exc}",
                               hint=with_resume_hint("run again with --debug for the traceback",
                                                     partial.run_id)) from exc
        raise
    summary = result.as_dict()
    if json_mode:
        console.emit_json(summary)
    else:
        print_summary(summary)
    if result.status == "stopped":
        console.warn(f"stopped: {result.error}")
        return EXIT_STOPPED
    return EXIT_OK if result.status in ("succeeded", "partial") else EXIT_FAILED


def print_summary(summary: dict) -> None:  # type: ignore[type-arg]
    """The human summary: status, counts, model usage, outputs."""
    from etlcrew.pipeline.run_result import RESUMABLE, outcome_lines, resume_command, summary_lines

    console.out(f"run {summary['run_id']}  crew {summary['crew']}  status {summary['status']}  "
                f"({summary['duration_s']:.1f} s)")
    for line in summary_lines(summary):
        console.out(line)
    for path in summary["outputs"]:
        console.out(f"  output: {path}")
    for line in outcome_lines(summary.get("outcome")):
        console.out(line)
    if summary["status"] in RESUMABLE:
        console.out(f"  resume: {resume_command(summary['run_id'])}")
    if summary["items"].get("review"):
        console.out(f"  review: {command('review', summary['crew'])}  (or --export FILE.csv, then --import)")
