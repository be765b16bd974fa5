"""What an action target (``webhook``, ``notify``) would fail on, found by ``validate`` and before a run starts.

- ``when:`` must be in the condition language and name the schema's fields;
- a notify ``tool:`` must be a tool of ``tools/`` (built-in or the project's) whose arguments are among the
  notice's (``pipeline.targets.notify.TOOL_ARGS``); a crewai-tools class cannot be one;
- a notify ``path:`` must be a file inside the project or output folder: not a folder, not under a file.

A run finds these only after its model calls, when the outbox delivers; here they are exit 2 with the fix.
"""

from __future__ import annotations

from pathlib import Path

from etlcrew.errors import ConfigProblem
from etlcrew.invocation import command
from etlcrew.pipeline.targets.conditions import ConditionError, parse_condition
from etlcrew.pipeline.targets.notify import TOOL_ARGS, notify_path
from etlcrew.settings import Settings
from etlcrew.specs.datapath import NotifyTarget, WebhookTarget
from etlcrew.specs.did_you_mean import suggest
from etlcrew.specs.project import ProjectSpec


def action_problems(settings: Settings, project: ProjectSpec, crew: str) -> list[ConfigProblem]:
    """Every problem of the crew's enabled webhook and notify targets, each with file, key and fix."""
    spec = project.crews[crew]
    doc = project.documents.get("crews")
    problems = []
    for i, target in enumerate(spec.targets):
        if not isinstance(target, WebhookTarget | NotifyTarget) or not target.enabled:
            continue
        found: list[tuple[str, str, str]] = []  # (key, message, fix)
        if target.when:
            fields = ["item_id", *spec.output_schema.fields] if spec.output_schema else None
            try:
                parse_condition(target.when, fields)
            except ConditionError as exc:
                found.append(("when", str(exc), "write e.g. when: \"urgency in ['urgent', 'high']\" "
                              "(==, !=, in, not in, and, or, not; fields of the schema)"))
        if isinstance(target, NotifyTarget) and target.tool:
            found += [("tool", m, h) for m, h in tool_problems(settings, target.tool)]
        elif isinstance(target, NotifyTarget):
            found += [("path", m, h) for m, h in path_problems(settings, notify_path(target, crew, settings))]
        for key, message, hint in found:
            line = doc.line_of((crew, "targets", i, key)) if doc else None
            problems.append(ConfigProblem(project.file_of("crews"), f"crew '{crew}', {target.type} target (key "
                                          f"targets.{i}.{key}): {message}", line, crew, f"targets.{i}.{key}", hint))
    return problems


def tool_problems(settings: Settings, name: str) -> list[tuple[str, str]]:
    """(message, fix) when ``name`` is no tool a notify target can call."""
    from etlcrew.tools.registry import discover

    tools = discover(settings.project_dir)
    info = tools.get(name)
    takes = ", ".join(TOOL_ARGS)
    if info is None:
        guess = suggest(name, set(tools))
        return [(f"no tool named '{name}' in tools/",
                 f"did you mean '{guess}'?" if guess else
                 f"add one with: {command('new', 'tool', name)}, taking any of {takes}")]
    if info.kind == "crewai_tools":
        return [(f"'{name}' is a crewai-tools class; a notify target calls a tool of tools/",
                 f"write a tool in tools/ taking any of {takes}")]
    other = [a for a in info.args if a not in TOOL_ARGS and a != "self"]
    if other:
        return [(f"tool '{name}' takes {', '.join(map(repr, other))}, which a notice cannot give",
                 f"a notify tool takes only arguments among {takes}")]
    return []


def path_problems(settings: Settings, path: Path) -> list[tuple[str, str]]:
    """(message, fix) when ``path`` cannot be the notify file."""
    where = path.resolve()
    roots = [settings.project_dir.resolve(), settings.output_dir.resolve()]
    if not any(where == r or where.is_relative_to(r) for r in roots):
        return [(f"{path} is outside the project and output folders",
                 "write a path inside the project, e.g. path: output/actions.jsonl")]
    if where.is_dir():
        return [(f"{path} is a folder", "name a file in it, e.g. path: output/actions.jsonl")]
    parent = where.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return [(f"{path} is under {parent}, which is a file, not a folder",
                 "name a file in a folder, e.g. path: output/actions.jsonl")]
    return []
