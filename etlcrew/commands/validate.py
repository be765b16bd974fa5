"""``validate``: check the whole configuration before any token is spent."""

from __future__ import annotations

from etlcrew import console
from etlcrew.commands.project import collect_checked, parse_inputs, pick_crew
from etlcrew.errors import ConfigError, ConfigProblem, SourceError
from etlcrew.settings import Settings
from etlcrew.specs.models import CrewSpec
from etlcrew.specs.project import ProjectSpec
from etlcrew.specs.references import check_inputs


def _check_labels(settings: Settings, project: ProjectSpec, crews: list[str]) -> None:
    """Each crew's ``eval`` labels (and its held-out ``test`` labels, and the reviewed items it shows as examples)
    against its schema and items, for crews whose sources are local files (reading a database or an API is left to
    ``eval``); every problem of every crew at once."""
    from etlcrew.evaluation.label_files import read_crew_labels
    from etlcrew.pipeline.review_examples import shown_as

    problems = []
    for name in crews:
        spec = project.crews[name]
        if not (spec.sources and all(s.type == "files" for s in spec.sources)):
            continue
        checked: list[str | None] = [None] if spec.eval else []
        checked += [spec.eval.test] if spec.eval and spec.eval.test else []
        if _takes_review_examples(settings, spec, name):
            checked.append(shown_as(name))
        for labels in checked:
            try:
                read_crew_labels(settings, project, name, labels)
            except ConfigError as exc:
                problems += exc.problems
            except SourceError as exc:  # a missing or unreadable source folder: a config problem to fix first
                problems.append(ConfigProblem(project.file_of("crews"), f"crew '{name}': {exc.message}",
                                              entry=name, hint=exc.hint))
    if problems:
        raise ConfigError(problems)


def _takes_review_examples(settings: Settings, spec: CrewSpec, crew: str) -> bool:
    """Whether the crew shows reviewed items as examples and has a reviewed labels file to check."""
    from etlcrew.pipeline.review_values import reviewed_labels_path

    schema = spec.output_schema
    return bool(schema and schema.examples_from_reviews and reviewed_labels_path(settings.project_dir, crew).is_file())


def _target_problems(settings: Settings, project: ProjectSpec, crews: list[str]) -> list[ConfigProblem]:
    """Each crew's targets: a dlt destination's package and credentials, and whether the schema still fits the
    tables already loaded (``pipeline.targets.preflight``; a run checks the same before any model call)."""
    from etlcrew.pipeline.targets.preflight import check_targets

    problems: list[ConfigProblem] = []
    for name in crews:
        try:
            check_targets(settings, project, name)
        except ConfigError as exc:
            problems += exc.problems
    return problems


def _problems(settings: Settings, crew: str | None, input_pairs: tuple[str, ...]
              ) -> tuple[ProjectSpec, dict, list[str], list[ConfigProblem]]:  # type: ignore[type-arg]
    """Every problem at once: schema, names, references and data path, then each crew's placeholders."""
    project, tools, problems = collect_checked(settings)
    given = parse_inputs(input_pairs)
    if crew and crew not in project.crews and problems:
        raise ConfigError(problems)  # the crew may be one that failed to load: its problems say why
    crew = pick_crew(project, crew) if crew else None
    crews = [crew] if crew else list(project.crews)
    with_inputs = crew or (project.default_crew() if project.crews else None)
    for name in crews:  # --input goes to the crew named, else to the default crew; others use their own inputs
        inputs = dict(project.crews[name].inputs) | (given if name == with_inputs else {})
        problems += check_inputs(project, name, inputs)
    if not problems:
        problems += _target_problems(settings, project, crews)
        try:
            _check_labels(settings, project, crews)
        except ConfigError as exc:
            problems = exc.problems + problems
    return project, tools, crews, problems


def validate(settings: Settings, crew: str | None, input_pairs: tuple[str, ...], json_mode: bool) -> int:
    """Exit 0 when valid; otherwise ``ConfigError`` (exit 2) with every problem, as text or JSON."""
    try:
        project, tools, crews, problems = _problems(settings, crew, input_pairs)
        if problems:
            raise ConfigError(problems)
    except ConfigError as exc:
        if json_mode:
            console.emit_json({"valid": False, "problems": [p.as_dict() for p in exc.problems]})
            return exc.exit_code
        raise
    summary = {
        "valid": True,
        "config_dir": str(settings.config_dir),
        "crews": crews,
        "default_crew": project.default_crew(),
        "agents": len(project.agents),
        "tasks": len(project.tasks),
        "tools": len(tools),
    }
    if json_mode:
        console.emit_json(summary)
    else:
        console.out(f"ok: {settings.config_dir} is valid — crews: {', '.join(crews)} "
                    f"(default: {summary['default_crew']}), {len(project.agents)} agents, {len(project.tasks)} tasks")
    return 0
