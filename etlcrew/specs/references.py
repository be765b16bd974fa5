"""Cross-file checks: every name a spec mentions must exist, and every ``{placeholder}`` must get a value.

These are the mistakes CrewAI would only report mid-run (or never): a task's agent, its context tasks, an agent's
tools, a crew's agents, tasks and manager.
"""

from __future__ import annotations

from collections.abc import Mapping

from etlcrew.errors import ConfigProblem
from etlcrew.invocation import command, install_hint
from etlcrew.specs import placeholders
from etlcrew.specs.did_you_mean import suggest
from etlcrew.specs.project import ProjectSpec


def _unknown(file: str, line: int | None, entry: str, what: str, name: str, choices: set[str], key: str,
             where: str) -> ConfigProblem:
    guess = suggest(name, choices)
    hint = f"did you mean '{guess}'?" if guess else f"define it in {where}, or use one of: {', '.join(sorted(choices))}"
    if key == "tools" and not guess:
        from etlcrew.tools.registry import CREWAI_TOOLS

        if name in CREWAI_TOOLS:
            hint = f"a crewai-tools tool: {install_hint('crewai-tools')}"
    return ConfigProblem(file, f"{what}: unknown {key.rstrip('s')} '{name}'", line, entry, key, hint)


def check_references(spec: ProjectSpec, tool_names: set[str] | None) -> list[ConfigProblem]:
    """Every reference problem in the project (``tool_names=None`` skips the tool check)."""
    problems: list[ConfigProblem] = []
    agents_file, tasks_file, crews_file = spec.file_of("agents"), spec.file_of("tasks"), spec.file_of("crews")
    docs = spec.documents

    def line(kind: str, *path: object) -> int | None:
        return docs[kind].line_of(path) if kind in docs else None

    if tool_names is not None:
        for name, agent in spec.agents.items():
            for i, tool in enumerate(agent.tools):
                if tool not in tool_names:
                    problems.append(_unknown(agents_file, line("agents", name, "tools", i), name, f"agent '{name}'",
                                             tool, tool_names, "tools", f"tools/ (see `{command('list', 'tools')}`)"))
        for name, task in spec.tasks.items():
            for i, tool in enumerate(task.tools):
                if tool not in tool_names:
                    problems.append(_unknown(tasks_file, line("tasks", name, "tools", i), name, f"task '{name}'",
                                             tool, tool_names, "tools", "tools/"))

    for name, task in spec.tasks.items():
        if task.agent is not None and task.agent not in spec.agents:
            problems.append(_unknown(tasks_file, line("tasks", name, "agent"), name, f"task '{name}'", task.agent,
                                     set(spec.agents), "agent", agents_file))
        for i, ctx in enumerate(task.context):
            if ctx not in spec.tasks:
                problems.append(_unknown(tasks_file, line("tasks", name, "context", i), name, f"task '{name}'",
                                         ctx, set(spec.tasks), "context", tasks_file))

    defaults = [n for n, c in spec.crews.items() if c.default]
    if len(defaults) > 1:
        problems.append(ConfigProblem(crews_file, f"more than one default crew: {', '.join(defaults)}",
                                      line("crews", defaults[1], "default"), defaults[1], "default",
                                      "mark only one crew with 'default: true'"))
    for name, _crew in spec.crews.items():
        problems.extend(_check_crew(spec, name, line, crews_file))
    return problems


def _check_crew(spec: ProjectSpec, name: str, line, crews_file: str) -> list[ConfigProblem]:  # type: ignore[no-untyped-def]
    crew = spec.crews[name]
    where = f"crew '{name}'"
    problems: list[ConfigProblem] = []
    for i, agent in enumerate(crew.agents):
        if agent not in spec.agents:
            problems.append(_unknown(crews_file, line("crews", name, "agents", i), name, where, agent,
                                     set(spec.agents), "agents", spec.file_of("agents")))
    for i, task_name in enumerate(crew.tasks):
        if task_name not in spec.tasks:
            problems.append(_unknown(crews_file, line("crews", name, "tasks", i), name, where, task_name,
                                     set(spec.tasks), "tasks", spec.file_of("tasks")))
            continue
        task = spec.tasks[task_name]
        known_agent = task.agent in spec.agents  # an unknown one is reported once, on the task itself
        if task.agent and known_agent and task.agent not in crew.agents and task.agent != crew.manager:
            problems.append(ConfigProblem(
                crews_file, f"{where}: task '{task_name}' is assigned to agent '{task.agent}', who is not in the crew",
                line("crews", name, "agents"), name, "agents", f"add '{task.agent}' to the crew's agents"))
        if task.agent is None and crew.process != "hierarchical":
            problems.append(ConfigProblem(
                spec.file_of("tasks"), f"task '{task_name}' has no agent, but {where} is {crew.process}",
                line("tasks", task_name), task_name, "agent", "give the task an 'agent:' or use process: hierarchical"))
        earlier = crew.tasks[:i]
        typo_in_tasks = any(t not in spec.tasks for t in crew.tasks)  # then a missing context is that typo
        for ctx in task.context:
            if ctx in spec.tasks and ctx not in earlier and not (typo_in_tasks and ctx not in crew.tasks):
                problems.append(ConfigProblem(
                    crews_file, f"{where}: task '{task_name}' uses context '{ctx}', which does not run before it",
                    line("crews", name, "tasks", i), name, "tasks", f"list '{ctx}' before '{task_name}'"))
    if crew.process == "hierarchical":
        if not crew.manager and not crew.manager_llm:
            problems.append(ConfigProblem(
                crews_file, f"{where}: process is hierarchical but there is no manager", line("crews", name, "process"),
                name, "process", "add 'manager_llm: local/smollm2-135m' (or a model) or 'manager: <agent name>'"))
        if crew.manager and crew.manager not in spec.agents:
            problems.append(_unknown(crews_file, line("crews", name, "manager"), name, where, crew.manager,
                                     set(spec.agents), "manager", spec.file_of("agents")))
        if crew.manager and crew.manager in crew.agents:
            problems.append(ConfigProblem(
                crews_file, f"{where}: manager '{crew.manager}' must not also be listed in the crew's agents",
                line("crews", name, "manager"), name, "manager", "remove it from 'agents:'"))
    elif crew.manager or crew.manager_llm:
        key = "manager" if crew.manager else "manager_llm"
        problems.append(ConfigProblem(crews_file, f"{where}: '{key}' is only used with process: hierarchical",
                                      line("crews", name, key), name, key, "remove it, or set process: hierarchical"))
    problems += _check_graph(spec, name, line, crews_file)
    return problems


def _check_graph(spec: ProjectSpec, name: str, line, crews_file: str) -> list[ConfigProblem]:  # type: ignore[no-untyped-def]
    """``process: graph`` needs LangGraph; ``routes:`` need ``process: graph`` and must make sense."""
    from etlcrew.specs.routes import check_routes

    crew = spec.crews[name]
    where = f"crew '{name}'"
    if crew.process != "graph":
        if crew.routes:
            return [ConfigProblem(crews_file, f"{where}: 'routes' are only used with process: graph",
                                  line("crews", name, "routes"), name, "routes", "remove them, or set process: graph")]
        return []
    from etlcrew.pipeline.graph import INSTALL, langgraph_installed

    problems = []
    if not langgraph_installed():
        problems.append(ConfigProblem(crews_file, f"{where}: process: graph needs LangGraph, which is not installed",
                                      line("crews", name, "process"), name, "process", INSTALL))
    phases = [p for t in crew.tasks if (p := spec.phase_of(t))]
    fields = list(crew.output_schema.fields) if crew.output_schema else []
    return problems + check_routes(dict(crew.routes), phases, fields, where, crews_file, name,
                                   lambda *path: line("crews", name, *path))


def check_inputs(spec: ProjectSpec, crew_name: str, inputs: Mapping[str, object]) -> list[ConfigProblem]:
    """Every placeholder of the crew's agents and tasks has a value (crew defaults, ``--input``, or the runtime)."""
    crew = spec.crews[crew_name]
    problems: list[ConfigProblem] = []
    agent_names = [a for a in [*crew.agents, crew.manager] if a and a in spec.agents]
    texts: list[tuple[str, str, str, str | None]] = []
    for agent_name in agent_names:
        agent = spec.agents[agent_name]
        texts += [("agents", agent_name, k, getattr(agent, k)) for k in ("role", "goal", "backstory")]
    for task_name in crew.tasks:
        task = spec.tasks.get(task_name)
        if task:
            texts += [("tasks", task_name, k, getattr(task, k)) for k in ("description", "expected_output",
                                                                           "output_file")]
    reported: set[str] = set()
    for kind, entry, key, text in texts:
        for missing_name in placeholders.missing([text], inputs):
            if missing_name in reported:
                continue
            reported.add(missing_name)
            doc = spec.documents.get(kind)
            problems.append(ConfigProblem(
                spec.file_of(kind),
                f"crew '{crew_name}': placeholder {{{missing_name}}} in {kind[:-1]} '{entry}' {key} has no value",
                doc.line_of((entry, key)) if doc else None, entry, key,
                f"pass --input {missing_name}=VALUE, or add '{missing_name}:' under crews.{crew_name}.inputs "
                f"(write {{{{{missing_name}}}}} for literal braces)"))
    return problems
