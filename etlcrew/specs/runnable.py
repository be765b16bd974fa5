"""What ``run`` would fail on, found before any model call or ledger write: the data path of every crew.

A crew with sources needs a schema, one task per phase with a transform among them, and ``{items}`` in front of the
model; SQL must be one SELECT (``etlcrew.sql_guard``); URLs must be http(s) without ``user:password@`` (they would
be stored with the run: credentials go in ``headers`` as ``${NAME}``, which must be set); a host other than
loopback must be listed in the crew's ``allowed_hosts``, so a run reaches no network host by accident (its tools
reach only its sources' and webhooks' hosts, ``tools.scope``). CrewAI's memory is refused where there are sources
(the items' text would leave the ledger's redaction). Source folders are checked on disk by
``commands.project`` with the files source's own check.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from urllib.parse import urlsplit

from etlcrew.errors import ConfigProblem
from etlcrew.specs import datapath as dp
from etlcrew.specs.actions import check_actions
from etlcrew.specs.env_refs import env_names
from etlcrew.specs.models import CrewSpec
from etlcrew.specs.placeholders import placeholders_in
from etlcrew.specs.project import ProjectSpec
from etlcrew.sql_guard import NotReadOnly, check_select

Line = Callable[..., "int | None"]


def check_crews(spec: ProjectSpec) -> list[ConfigProblem]:
    """Every data-path problem of every crew whose references resolve."""
    doc = spec.documents.get("crews")

    def line(*path: object) -> int | None:
        return doc.line_of(path) if doc else None

    problems: list[ConfigProblem] = []
    for name, crew in spec.crews.items():
        where = _Where(spec.file_of("crews"), name, line)
        problems += _urls(where, crew)
        for i, source in enumerate(crew.sources):
            if isinstance(source, dp.SqlSource):
                try:
                    check_select(source.query)
                except NotReadOnly as exc:
                    problems.append(where.problem(f"source '{source.name}': {exc}", ("sources", i, "query"),
                                                  "write one SELECT (or WITH ... SELECT): a source only reads"))
        if crew.sources and all(t in spec.tasks for t in crew.tasks):
            problems += _phases(spec, where, crew)
        problems += check_actions(crew, where.problem)
        if crew.sources and crew.memory:
            problems.append(where.problem(f"has sources and memory: true; {MEMORY_WHY}", ("memory",), MEMORY_FIX))
    return problems + _agent_memory(spec)


class _Where:
    """File, crew and line lookup for the problems of one crew."""

    def __init__(self, file: str, crew: str, line: Line) -> None:
        self.file, self.crew, self.line = file, crew, line

    def problem(self, message: str, path: tuple[object, ...], hint: str) -> ConfigProblem:
        key = ".".join(str(p) for p in path) or None
        return ConfigProblem(self.file, f"crew '{self.crew}': {message}", self.line(self.crew, *path), self.crew,
                             key, hint)


def _phases(spec: ProjectSpec, where: _Where, crew: CrewSpec) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if crew.output_schema is None:
        problems.append(where.problem("has sources but no schema", ("sources",),
                                      "add a 'schema:' with a table and fields (see README: Records)"))
    by_phase: dict[str, list[str]] = {}
    for task in crew.tasks:
        phase = spec.phase_of(task)
        if phase:
            by_phase.setdefault(phase, []).append(task)
    for phase, tasks in by_phase.items():
        if len(tasks) > 1:
            problems.append(where.problem(f"tasks {', '.join(repr(t) for t in tasks)} all do the {phase} phase",
                                          ("tasks",), f"keep one {phase} task in the crew's tasks"))
    transform = by_phase.get("transform", [None])[0]
    if transform is None:
        problems.append(where.problem("has sources but no transform task", ("tasks",),
                                      "add a task with 'phase: transform' (or named transform) to the crew's tasks"))
        return problems
    seen = [transform, *spec.tasks[transform].context]
    if not any("items" in placeholders_in(spec.tasks[t].description) for t in seen if t in spec.tasks):
        problems.append(where.problem(
            f"the model never sees the items: task '{transform}' (its transform) has no {{items}} in its "
            f"description, nor does a task in its context", ("tasks",),
            f"add {{items}} to the description of task '{transform}' in {spec.file_of('tasks')}"))
    return problems


MEMORY_WHY = ("CrewAI's memory would keep the items' text, unredacted, in its own store and send it to an "
              "embedding provider (OpenAI unless configured)")
MEMORY_FIX = "remove 'memory: true': the ledger and the targets keep what a run needs"


def _agent_memory(spec: ProjectSpec) -> list[ConfigProblem]:
    """One problem per agent with ``memory: true`` that works in a crew with sources (as worker or manager)."""
    doc = spec.documents.get("agents")
    problems: list[ConfigProblem] = []
    for name, agent in spec.agents.items():
        crews = [c for c, crew in spec.crews.items() if crew.sources and name in (*crew.agents, crew.manager)]
        if crews and agent.crewai_options.get("memory"):
            problems.append(ConfigProblem(
                spec.file_of("agents"), f"agent '{name}' has memory: true and works in crews with sources "
                f"({', '.join(crews)}); {MEMORY_WHY}", doc.line_of((name, "memory")) if doc else None, name,
                "memory", MEMORY_FIX))
    return problems


def _urls(where: _Where, crew: CrewSpec) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    allowed = {h.strip().lower() for h in crew.allowed_hosts}
    urls = [(("sources", i, "url"), f"source '{s.name}'", s.url) for i, s in enumerate(crew.sources)
            if isinstance(s, dp.HttpSource)]
    urls += [(("targets", i, "url"), "webhook target", t.url) for i, t in enumerate(crew.targets)
             if isinstance(t, dp.WebhookTarget)]
    for path, what, url in urls:
        problem = _url_problem(url, allowed)
        if problem:
            message, hint = problem
            problems.append(where.problem(f"{what}: {message}", path, hint))
    headed = [(("sources", i), f"source '{s.name}'", s.headers) for i, s in enumerate(crew.sources)
              if isinstance(s, dp.HttpSource)]
    headed += [(("targets", i), "webhook target", t.headers) for i, t in enumerate(crew.targets)
               if isinstance(t, dp.WebhookTarget)]
    for path, what, headers in headed:
        for name in env_names(headers):
            if name not in os.environ:
                problems.append(where.problem(f"{what}: headers use ${{{name}}}, which is not set",
                                              (*path, "headers"), f"set {name} in the environment or in .env"))
    return problems


def _url_problem(url: str, allowed: set[str]) -> tuple[str, str] | None:
    """(message, fix) when ``url`` cannot be used, else ``None``."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "the URL is not an http(s) URL with a host", "use http://host:port/path or https://host/path"
    if parts.username is not None or parts.password is not None:
        return ("the URL holds credentials (user:password@), which would be kept in the ledger and the trace",
                "remove them from the URL and send a header from the environment instead: headers: "
                "{Authorization: 'Bearer ${API_TOKEN}'} with API_TOKEN set in .env")
    try:
        port = parts.port
    except ValueError:
        return "the URL has an invalid port", "use a port number from 1 to 65535"
    host = parts.hostname.lower()
    if _loopback(host) or host in allowed or f"{host}:{port}" in allowed:
        return None
    return (f"host {host} is not loopback and not declared in the crew's allowed_hosts",
            f"add 'allowed_hosts: [{host}]' to the crew if it may be reached")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
