"""The command line: wiring only. Each command body lives in ``etlcrew.commands`` and is imported lazily,
so ``--help``, ``validate`` and ``list`` never import CrewAI.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from etlcrew import console, invocation
from etlcrew.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    ConfigError,
    EtlcrewError,
    plain_os_error,
)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _settings(ctx: click.Context, **flags: object):  # type: ignore[no-untyped-def]
    from etlcrew.settings import load_settings

    return load_settings(config_dir=ctx.obj.get("config_dir"), **flags)


TYPICAL_USE = (
    ("run", "run the default crew on the embedded model"),
    ("run CREW --input k=v", "run another crew with inputs"),
    ("run --dry-run", "what a run would process and cost, without running it"),
    ("eval [CREW] [--model M]", "score the records against the crew's labels"),
    ("validate", "check config/*.yaml without running anything"),
    ("list [crews|agents|tasks|tools]", ""),
    ("models [pull NAME]", "embedded models and the provider in force"),
    ("runs / show RUN_ID", "what past runs did, from the ledger"),
    ("review [CREW]", "accept, correct or discard the records held for review"),
    ("resume RUN_ID", "continue a crashed, interrupted or budget-stopped run"),
    ("approve RUN_ID ITEM|--all", "land items a process: graph run holds for approval"),
    ("tool NAME --args JSON", "try one tool; new tool NAME / new crew NAME to scaffold"),
)


def _help() -> str:
    """The group's help, its commands as this process was started (``etlcrew`` or ``python main.py``)."""
    prog = invocation.program()
    lines = [f"  {prog} {cmd}".ljust(len(prog) + 28) + f" {text}".rstrip() for cmd, text in TYPICAL_USE]
    return "etlcrew: ETL run by CrewAI agents configured in YAML.\n\n\b\nTypical use:\n" + "\n".join(lines)


@click.group(invoke_without_command=True, context_settings=CONTEXT, help=_help())
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--config-dir", type=click.Path(file_okay=False), help="Folder with agents/tasks/crews.yaml.")
@click.version_option(package_name="etlcrew", prog_name="etlcrew")  # the package's name, however started
@click.pass_context
def cli(ctx: click.Context, debug: bool, config_dir: str | None) -> None:
    """The command group: global options, and the help when no command is given."""
    ctx.ensure_object(dict)
    ctx.obj.update(debug=debug, config_dir=config_dir)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def budget_options(command):  # type: ignore[no-untyped-def]
    """``--max-llm-calls``, ``--max-tokens``, ``--max-seconds``: over the crew's ``budget:``."""
    for flag, kind, text in (("--max-seconds", click.FloatRange(min=0, min_open=True), "Wall-time budget."),
                             ("--max-tokens", click.IntRange(min=1), "Prompt + completion token budget."),
                             ("--max-llm-calls", click.IntRange(min=1), "Model call budget.")):
        command = click.option(flag, type=kind, help=f"{text} Reached, the run stops cleanly, resumable.")(command)
    return command


def _budget(flags: dict[str, object]) -> dict[str, object]:
    return {k: flags[k] for k in ("max_llm_calls", "max_tokens", "max_seconds")}


@cli.command(context_settings=CONTEXT)
@click.argument("crew", required=False)
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="Fill a {placeholder}.")
@click.option("--process", type=click.Choice(["sequential", "hierarchical", "graph"]),
              help="Override the crew's process (graph: LangGraph, pip install -e \".[graph]\").")
@click.option("--model", help="Model for every agent, e.g. local/smollm2-135m or openai/gpt-4o-mini.")
@click.option("--base-url", help="OpenAI-compatible server URL, e.g. http://127.0.0.1:8080/v1.")
@click.option("--batch-size", type=click.IntRange(1, 500), help="Items per batch (crews with sources).")
@click.option("--concurrency", type=click.IntRange(1, 64), help="Batches processed at once.")
@click.option("--full-refresh", is_flag=True, help="Rebuild the crew's tables and files, reprocessing every item.")
@click.option("--retry-review", is_flag=True, help="Ask the model again about items held for review.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help=f"Where batches run: threads here, or tasks on a Ray cluster ({invocation.install_hint('ray')}).")
@click.option("--ray-address", help="Ray cluster to use (else RAY_ADDRESS, else a local cluster for the run).")
@click.option("--dry-run", is_flag=True, help="Print what a run would do and cost; run nothing.")
@budget_options
@click.option("--quiet", "-q", is_flag=True, help="Only the summary.")
@click.option("--verbose", "-v", is_flag=True, help="Also show agent steps: tasks, tool calls (truncated).")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object and nothing else on stdout.")
@click.pass_context
def run(ctx: click.Context, crew: str | None, inputs: tuple[str, ...], process: str | None, model: str | None,
        base_url: str | None, batch_size: int | None, concurrency: int | None, full_refresh: bool, quiet: bool,
        json_mode: bool, verbose: bool, executor: str, ray_address: str | None, retry_review: bool, dry_run: bool,
        **budget: object) -> int:
    """Run a crew (the default crew when CREW is omitted)."""
    console.configure(quiet=quiet, json_mode=json_mode)
    settings = _settings(ctx, model=model, base_url=base_url)
    if dry_run:
        from etlcrew.commands.dry_run import dry_run as dry_run_command

        return dry_run_command(settings, crew=crew, input_pairs=inputs, process=process, model=model,
                               base_url=base_url, batch_size=batch_size, concurrency=concurrency,
                               full_refresh=full_refresh, json_mode=json_mode)
    from etlcrew.commands.run import run as run_command

    return run_command(settings, crew=crew, input_pairs=inputs, process=process, model=model, base_url=base_url,
                       batch_size=batch_size, concurrency=concurrency, json_mode=json_mode,
                       full_refresh=full_refresh, budget=_budget(budget), verbose=verbose, executor=executor,
                       ray_address=ray_address, retry_review=retry_review)


@cli.command("eval", context_settings=CONTEXT)
@click.argument("crew", required=False)
@click.option("--labels", metavar="FILE", help="Labels CSV (default: the crew's eval: {labels: ...}).")
@click.option("--model", "models", multiple=True, help="Model to score; repeat to compare models side by side.")
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N labelled items.")
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="Fill a {placeholder}.")
@click.option("--misses", "show_misses", is_flag=True, help="Also list every wrong value.")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object and nothing else on stdout.")
@click.pass_context
def eval_(ctx: click.Context, crew: str | None, labels: str | None, models: tuple[str, ...], limit: int | None,
          inputs: tuple[str, ...], show_misses: bool, json_mode: bool) -> int:
    """Score a crew's records against its labels, per field and per model (writes no target)."""
    from etlcrew.commands.eval import eval_crew

    console.configure(json_mode=json_mode)
    return eval_crew(_settings(ctx), crew=crew, labels=labels, models=models, limit=limit, input_pairs=inputs,
                     json_mode=json_mode, show_misses=show_misses)


@cli.command(context_settings=CONTEXT)
@click.argument("run_id")
@click.argument("item", required=False)
@click.option("--all", "every", is_flag=True, help="Approve every item of the run that waits for approval.")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary.")
@click.option("--verbose", "-v", is_flag=True, help="Also show agent steps: tasks, tool calls (truncated).")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object and nothing else on stdout.")
@click.pass_context
def approve(ctx: click.Context, run_id: str, item: str | None, every: bool, quiet: bool, verbose: bool,
            json_mode: bool) -> int:
    """Let items of a process: graph run that wait for approval land (ITEM, or --all)."""
    from etlcrew.commands.approve import approve as approve_command

    console.configure(quiet=quiet, json_mode=json_mode)
    return approve_command(_settings(ctx), run_id, item, every=every, json_mode=json_mode, verbose=verbose)


@cli.command(context_settings=CONTEXT)
@click.argument("run_id")
@click.option("--force", is_flag=True, help="Resume even though the crew's config changed since the run started.")
@budget_options
@click.option("--quiet", "-q", is_flag=True, help="Only the summary.")
@click.option("--verbose", "-v", is_flag=True, help="Also show agent steps: tasks, tool calls (truncated).")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object and nothing else on stdout.")
@click.pass_context
def resume(ctx: click.Context, run_id: str, force: bool, quiet: bool, verbose: bool, json_mode: bool,
           **budget: object) -> int:
    """Continue a run that crashed, was interrupted or stopped on its budget (a finished run: no-op)."""
    from etlcrew.commands.resume import resume as resume_command

    console.configure(quiet=quiet, json_mode=json_mode)
    return resume_command(_settings(ctx), run_id, force=force, json_mode=json_mode, budget=_budget(budget),
                          verbose=verbose)


@cli.command(context_settings=CONTEXT)
@click.argument("crew", required=False)
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="Inputs to check with.")
@click.option("--json", "json_mode", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def validate(ctx: click.Context, crew: str | None, inputs: tuple[str, ...], json_mode: bool) -> int:
    """Check config/*.yaml (keys, types, references, placeholders) without running anything."""
    from etlcrew.commands.validate import validate as validate_command

    console.configure(json_mode=json_mode)
    return validate_command(_settings(ctx), crew, inputs, json_mode)


@cli.command("list", context_settings=CONTEXT)
@click.argument("kind", required=False, type=click.Choice(["crews", "agents", "tasks", "tools"]))
@click.option("--json", "json_mode", is_flag=True, help="Print JSON (an array for one kind, an object for all).")
@click.pass_context
def list_(ctx: click.Context, kind: str | None, json_mode: bool) -> int:
    """List crews, agents, tasks and tools."""
    from etlcrew.commands.listing import list_items

    console.configure(json_mode=json_mode)
    return list_items(_settings(ctx), kind, json_mode)


@cli.group(invoke_without_command=True, context_settings=CONTEXT)
@click.option("--json", "json_mode", is_flag=True, help="Print JSON.")
@click.pass_context
def models(ctx: click.Context, json_mode: bool) -> int | None:
    """Embedded models (present locally? size) and the model setting in force."""
    if ctx.invoked_subcommand is not None:
        return None
    from etlcrew.commands.models import list_models

    console.configure(json_mode=json_mode)
    return list_models(_settings(ctx), json_mode)


@models.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@click.pass_context
def pull(ctx: click.Context, name: str | None) -> int:
    """Download and verify an embedded model's weights (the default model when NAME is omitted)."""
    from etlcrew.commands.models import pull as pull_command

    return pull_command(_settings(ctx), name)


@cli.command("tool", context_settings=CONTEXT)
@click.argument("name")
@click.option("--args", "args_json", default="{}", metavar="JSON",
              help="""The tool's arguments as a JSON object, e.g. '{"path": "data/inbox/0001.eml"}'.""")
@click.option("--crew", help="Crew whose declared sources and targets bound the tool (default: the default crew).")
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object with the output.")
@click.pass_context
def tool_(ctx: click.Context, name: str, args_json: str, crew: str | None, json_mode: bool) -> int:
    """Run one tool directly, inside a crew's scope, and print what the model would get."""
    from etlcrew.commands.tool import run_tool

    console.configure(json_mode=json_mode)
    return run_tool(_settings(ctx), name, args_json, crew, json_mode)


@cli.group("new", context_settings=CONTEXT)
def new() -> None:
    """Scaffold a tool (and its test) or a crew (agents, tasks, schema, sample data) from a template."""


@new.command("tool", context_settings=CONTEXT)
@click.argument("name")
@click.pass_context
def new_tool(ctx: click.Context, name: str) -> int:
    """Write tools/NAME.py and tests/tools/test_NAME.py; never overwrites."""
    from etlcrew.commands.new_tool import new_tool as new_tool_command

    return new_tool_command(_settings(ctx), name)


@new.command("crew", context_settings=CONTEXT)
@click.argument("name")
@click.pass_context
def new_crew(ctx: click.Context, name: str) -> int:
    """Add crew NAME with its agents, tasks, schema, sample data in data/NAME/ and a report, then validate."""
    from etlcrew.commands.new_crew import new_crew as new_crew_command

    return new_crew_command(_settings(ctx), name)



@cli.command("review", context_settings=CONTEXT)
@click.argument("crew", required=False)
@click.option("--list", "list_only", is_flag=True, help="Print what is held for review.")
@click.option("--export", metavar="FILE.csv", help="Write the held items to a CSV file to decide in.")
@click.option("--import", "import_file", metavar="FILE.csv", help="Apply the accept/discard rows of a CSV file.")
@click.option("--reviewer", help="Who decides, as the ledger records it (default: $USER).")
@click.option("--json", "json_mode", is_flag=True, help="With --list: print one JSON object.")
@click.pass_context
def review_(ctx: click.Context, crew: str | None, list_only: bool, export: str | None, import_file: str | None,
            reviewer: str | None, json_mode: bool) -> int:
    """Clear the review queue: accept, correct or discard the records held for a person (a terminal, or CSV)."""
    from etlcrew.commands.review import review

    console.configure(json_mode=json_mode)
    return review(_settings(ctx), crew, export=export, import_file=import_file, list_only=list_only,
                  json_mode=json_mode, reviewer=reviewer)


@cli.command("runs", context_settings=CONTEXT)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs.")
@click.option("--crew", help="Only the runs of this crew.")
@click.option("--json", "json_mode", is_flag=True, help="Print a JSON array of runs.")
@click.pass_context
def runs_(ctx: click.Context, limit: int, crew: str | None, json_mode: bool) -> int:
    """Recent runs, newest first: status, duration, items, model calls, tokens, cost."""
    from etlcrew.commands.runs import list_runs

    console.configure(json_mode=json_mode)
    return list_runs(_settings(ctx), limit, crew, json_mode)


@cli.command("show", context_settings=CONTEXT)
@click.argument("run_id", required=False)
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON object.")
@click.pass_context
def show_(ctx: click.Context, run_id: str | None, json_mode: bool) -> int:
    """One run (a unique id prefix will do; none: the latest run): per phase and agent calls, tokens, latency,
    retries, errors."""
    from etlcrew.commands.show import show_run

    console.configure(json_mode=json_mode)
    return show_run(_settings(ctx), run_id, json_mode)

def run_crew() -> int:
    """``run_crew``, the entry point CrewAI's own ``crewai run`` looks for: runs the default crew."""
    return main(["run", *sys.argv[1:]])


def _sigterm_like_ctrl_c() -> None:
    """SIGTERM (kill, systemd, Docker, CI) stops like Ctrl-C everywhere: a message and exit 143, not a silent death.

    A run installs its own handler on top (``pipeline.control.stop_on_ctrl_c``) that stops it cleanly."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        from etlcrew.pipeline.control import raise_terminated

        signal.signal(signal.SIGTERM, raise_terminated)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python main.py`` and the ``etlcrew`` command: errors become messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    # pydantic scans every installed distribution for plugins at import (~60 ms here); we use none
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _sigterm_like_ctrl_c()
    try:
        code = cli.main(args=args, prog_name=invocation.program(), standalone_mode=False)
        return int(code or 0)
    except click.exceptions.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        console.error("interrupted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt as exc:  # also SIGTERM (``Terminated``) outside a run
        terminated = type(exc).__name__ == "Terminated"
        console.error("terminated (SIGTERM)" if terminated else "interrupted")
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except ConfigError as exc:
        if debug:
            traceback.print_exc()
        for problem in exc.problems:
            console.error(problem.render())
        return exc.exit_code
    except EtlcrewError as exc:
        if debug:
            traceback.print_exc()
        console.error(exc.message, exc.hint)
        return exc.exit_code
    except Exception as exc:
        if debug:
            traceback.print_exc()
        plain = plain_os_error(exc)
        if plain is not None:
            console.error(plain.message, plain.hint)
            return EXIT_FAILED
        console.error(f"unexpected {type(exc).__name__}: {exc}", "run again with --debug for the traceback")
        return EXIT_FAILED
