"""``run``: validate, then execute one crew and print its summary (or one JSON object with ``--json``)."""

from __future__ import annotations

import contextlib
import logging
import sys

from etlcrew import console
from etlcrew.commands.project import crew_inputs, load_checked, parse_inputs, pick_crew
from etlcrew.crewai_env import import_crewai
from etlcrew.errors import EXIT_FAILED, EXIT_OK, RunInterrupted
from etlcrew.settings import Settings


def quiet_crewai_logging() -> None:
    """CrewAI logs warnings and the errors we handle ourselves (invalid output is retried, then quarantined)."""
    for name in ("crewai", "LiteLLM", "httpx", "openai"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger().setLevel(logging.CRITICAL)


def run(settings: Settings, *, crew: str | None, input_pairs: tuple[str, ...], process: str | None,
        model: str | None, base_url: str | None, batch_size: int | None, concurrency: int | None,
        json_mode: bool, full_refresh: bool = False) -> int:
    """Everything is checked before CrewAI is imported; then the crew runs and the summary is printed."""
    project, tools = load_checked(settings)
    name = pick_crew(project, crew)
    inputs = crew_inputs(project, name, parse_inputs(input_pairs))
    console.info(f"running crew '{name}' ({process or project.crews[name].process})")
    import_crewai(settings.state_dir)
    quiet_crewai_logging()
    from pipeline.runner import RunOptions, run_crew

    options = RunOptions(crew=name, inputs=inputs, process=process, model=model, base_url=base_url,
                         batch_size=batch_size, concurrency=concurrency, full_refresh=full_refresh)
    try:
        # CrewAI prints some warnings and its verbose output on stdout: keep stdout for our own output only
        with contextlib.redirect_stdout(sys.stderr):
            result = run_crew(settings, project, tools, options)
    except KeyboardInterrupt:
        raise RunInterrupted("interrupted") from None
    if json_mode:
        console.emit_json(result.as_dict())
    else:
        print_summary(result.as_dict())
    return EXIT_OK if result.status in ("succeeded", "partial") else EXIT_FAILED


def print_summary(summary: dict) -> None:  # type: ignore[type-arg]
    """The human summary: status, counts, model usage, outputs."""
    items, llm = summary["items"], summary["llm"]
    console.out(f"run {summary['run_id']}  crew {summary['crew']}  status {summary['status']}  "
                f"({summary['duration_s']:.1f} s)")
    console.out(f"  items: {items['extracted']} extracted, {items['loaded']} loaded, "
                f"{items['quarantined']} quarantined, {items['skipped']} skipped")
    console.out(f"  model: {', '.join(summary['models']) or '-'}: {llm['calls']} calls, "
                f"{llm['prompt_tokens']} prompt + {llm['completion_tokens']} completion tokens, "
                f"${llm['cost_usd']:.4f}")
    for path in summary["outputs"]:
        console.out(f"  output: {path}")
