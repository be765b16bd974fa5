"""``list``: the crews, agents, tasks and tools the configuration defines."""

from __future__ import annotations

from typing import Any

from etlcrew import console
from etlcrew.commands.project import collect_checked
from etlcrew.errors import ConfigError
from etlcrew.invocation import command
from etlcrew.settings import Settings

KINDS = ("crews", "agents", "tasks", "tools")


def _one_line(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _loaded(settings: Settings, kind: str | None) -> tuple[Any, dict[str, Any]]:
    """The project for listing ``kind``: a problem in another file (a broken crew when listing agents) is a
    warning pointing at ``validate``; a problem in the listed kind's own file stops the listing."""
    project, tools, problems = collect_checked(settings)
    own = {"crews": "crews.yaml", "agents": "agents.yaml", "tasks": "tasks.yaml", "tools": "tools/"}.get(kind or "")
    if problems and (own is None or any(own in p.file for p in problems)):
        raise ConfigError(problems)
    if problems:
        console.warn(f"{len(problems)} configuration problem(s) elsewhere: see `{command('validate')}`")
    return project, tools


def collect(settings: Settings, kind: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Everything listable, as JSON-ready dicts."""
    project, tools = _loaded(settings, kind)
    default = project.default_crew() if project.crews else None
    return {
        "crews": [
            {"name": n, "default": n == default, "process": c.process, "agents": c.agents, "tasks": c.tasks,
             "sources": [s.name for s in c.sources], "targets": [t.type for t in c.targets],
             "description": c.description.strip()}
            for n, c in project.crews.items()
        ],
        "agents": [
            {"name": n, "role": a.role.strip(), "goal": a.goal.strip(), "llm": a.llm, "tools": a.tools}
            for n, a in project.agents.items()
        ],
        "tasks": [
            {"name": n, "agent": t.agent, "phase": project.phase_of(n),
             "context": t.context, "description": t.description.strip()}
            for n, t in project.tasks.items()
        ],
        "tools": [
            {"name": i.name, "description": i.description, "arguments": list(i.args), "origin": i.origin}
            for i in sorted(tools.values(), key=lambda i: (i.kind == "crewai_tools", i.name))
        ],
    }


def list_items(settings: Settings, kind: str | None, json_mode: bool) -> int:
    """Print one kind (or all) as tables, or JSON: an array for one kind, an object for all."""
    data = collect(settings, kind)
    kinds = [kind] if kind else list(KINDS)
    if json_mode:
        console.emit_json(data[kinds[0]] if kind else data)
        return 0
    for k in kinds:
        rows = data[k]
        if k == "crews":
            console.table("Crews", ["name", "process", "agents", "tasks", "description"], [
                [r["name"] + (" (default)" if r["default"] else ""), r["process"], ", ".join(r["agents"]),
                 ", ".join(r["tasks"]), _one_line(r["description"], 50)] for r in rows])
        elif k == "agents":
            console.table("Agents", ["name", "role", "llm", "tools"], [
                [r["name"], _one_line(r["role"], 40), r["llm"] or "(default)", ", ".join(r["tools"])] for r in rows])
        elif k == "tasks":
            console.table("Tasks", ["name", "agent", "context", "description"], [
                [r["name"], r["agent"] or "(manager)", ", ".join(r["context"]), _one_line(r["description"], 60)]
                for r in rows])
        else:
            console.table("Tools", ["name", "arguments", "origin", "description"], [
                [r["name"], ", ".join(r["arguments"]), r["origin"], _one_line(r["description"], 50)] for r in rows])
    return 0
