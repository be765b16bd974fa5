"""Load the validated project a command works on: config specs plus the tools they may name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from etlcrew.errors import ConfigError, ConfigProblem, SourceError, UsageError
from etlcrew.settings import Settings
from etlcrew.specs.did_you_mean import suggest
from etlcrew.specs.loader import collect_project
from etlcrew.specs.project import ProjectSpec
from etlcrew.specs.references import check_inputs
from etlcrew.tools.registry import ToolInfo, broken_tool_files, discover


def collect_checked(settings: Settings, needs_state: bool = True
                    ) -> tuple[ProjectSpec, dict[str, ToolInfo], list[ConfigProblem]]:
    """Specs as far as they load, tools, and every problem found (tool files that do not parse included; a state
    folder that cannot be written, unless the command writes no state: ``needs_state``)."""
    from etlcrew.state_dir import state_dir_problems

    tools = discover(settings.project_dir)
    problems = [
        ConfigProblem(str(path.relative_to(path.parent.parent)), f"tool file does not parse: {exc.msg}", exc.lineno,
                      hint="fix the Python syntax")
        for path, exc in broken_tool_files(settings.project_dir)
    ]
    try:
        from etlcrew.model_runtime.usage import load_prices

        load_prices(settings.config_dir)
    except ConfigError as exc:
        problems += exc.problems
    project, found = collect_project(settings.config_dir, tool_names=set(tools))
    state = state_dir_problems(settings) if needs_state else []
    return project, tools, problems + found + check_folders(project, settings.project_dir) + state + tuning_problems()


def tuning_problems() -> list[ConfigProblem]:
    """The embedded model's CPU variables (``ETLCREW_MODEL_THREADS`` / ``_POLL`` / ``_SPECULATIVE``), whose bad
    values the server would otherwise ignore without a word."""
    from etlcrew.model_runtime.cpu_tuning import env_problems

    return [ConfigProblem("environment or .env", f"{name}: {message}", key=name, hint=fix)
            for name, message, fix in env_problems()]


def check_folders(project: ProjectSpec, project_dir: Path) -> list[ConfigProblem]:
    """Each ``files`` source folder exists and can be listed: the run's own check, made before it starts."""
    from etlcrew.pipeline.sources.files import folder_of
    from etlcrew.specs.datapath import FilesSource

    problems: list[ConfigProblem] = []
    doc = project.documents.get("crews")
    for name, crew in project.crews.items():
        for i, source in enumerate(crew.sources):
            if isinstance(source, FilesSource):
                try:
                    folder_of(source, project_dir)
                except SourceError as exc:
                    problems.append(ConfigProblem(
                        project.file_of("crews"), f"crew '{name}': {exc.message}",
                        doc.line_of((name, "sources", i, "path")) if doc else None, name, f"sources.{i}.path",
                        exc.hint))
    return problems


def load_checked(settings: Settings, needs_state: bool = True) -> tuple[ProjectSpec, dict[str, ToolInfo]]:
    """Specs and tools, or ``ConfigError`` listing every problem."""
    project, tools, problems = collect_checked(settings, needs_state)
    if problems:
        raise ConfigError(problems)
    return project, tools


def pick_crew(project: ProjectSpec, name: str | None) -> str:
    """The crew asked for (did-you-mean on a typo), or the default crew."""
    if name is None:
        return project.default_crew()
    if name not in project.crews:
        guess = suggest(name, set(project.crews))
        hint = f"did you mean '{guess}'?" if guess else f"crews are: {', '.join(project.crews)}"
        raise UsageError(f"no crew named '{name}' in {project.file_of('crews')}", hint)
    return name


def parse_inputs(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--input key=value`` pairs as a dict; a pair without ``=`` is a usage error."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--input expects KEY=VALUE, got '{pair}'", "for example: --input topic=thermostats")
        values[key.strip()] = value
    return values


def crew_inputs(project: ProjectSpec, crew: str, given: Mapping[str, str]) -> dict[str, object]:
    """Crew defaults overridden by ``--input``; every placeholder must then have a value."""
    inputs: dict[str, object] = dict(project.crews[crew].inputs) | dict(given)
    problems = check_inputs(project, crew, inputs)
    if problems:
        raise ConfigError(problems)
    return inputs
