"""A run's plan before it spends anything: which items are new, changed or unchanged, how many batches and model
calls, and an estimate of tokens, seconds and cost (``run --dry-run``; a real run stores it, ``show`` prints it
beside what the run spent).

Light on purpose: no CrewAI, no model call, no ledger write (an absent ledger is not created).

How it counts (``calls_per_phase``):
- extract (when the crew has that phase): one call per batch;
- transform: one call per ``items_per_call`` items of each batch (sequential crews), else one per batch;
- load (the publisher): one call per run that has at least one item to process.
A task whose agent has tools costs at least two calls (its answer, then CrewAI's call turning it into the
structured output), one more per tool it calls. Retries, fallbacks, a held item redone on its own and a
hierarchical manager's own calls come on top: for a hierarchical crew or tool-using agents the figure is a lower
bound (``exact`` is false).

Tokens: the last finished runs' per-call averages of each task on the same model, when the ledger has them; else
the prompt the crew would send, measured (the task's and agent's text with the batch's items and the schema
filled in, four characters a token) and a completion sized on the schema. Seconds: the model's mean latency in
its last runs, with ``concurrency`` calls at once; else the catalogue's seconds per item for an embedded model;
else unknown. Cost: ``config/prices.yaml`` (0 for local models).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from etlcrew.pipeline.batches import Batch, describe_schema, render_items
from etlcrew.pipeline.items import Item
from etlcrew.specs.placeholders import fill

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.pipeline.options import RunOptions
    from etlcrew.settings import Settings
    from etlcrew.specs.datapath import SchemaSpec
    from etlcrew.specs.project import ProjectSpec

CHARS_PER_TOKEN = 4
PAST_RUNS = 5  # finished runs whose per-call averages stand for the next one
DIGEST_TOKENS = 250  # a publisher's digest and action list
FINDINGS_TOKENS_PER_ITEM = 40


@dataclass
class Plan:
    """What a run of ``crew`` would do now, as ``run --dry-run --json`` prints it."""

    crew: str
    model: str
    process: str
    batch_size: int
    items_per_call: int | None
    concurrency: int
    items: dict[str, int] = field(default_factory=dict)  # new, changed, unchanged, unreadable, to_process
    batches: int = 0
    calls: dict[str, int] = field(default_factory=dict)  # per phase, and "total"
    exact: bool = True  # False: a hierarchical manager's calls come on top
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_from: str = "prompt"  # or "past runs"
    seconds: float | None = None
    seconds_from: str = "unknown"  # "past runs", "catalogue" or "unknown"
    cost_usd: float | None = 0.0  # None: the model has no price in config/prices.yaml (unknown, never 0)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = None if self.seconds is None else round(self.seconds, 1)
        data["cost_usd"] = None if self.cost_usd is None else round(self.cost_usd, 6)
        return data


def phases_of(project: ProjectSpec, crew: str) -> dict[str, str]:
    """Phase -> task name for the crew (``phase:`` in tasks.yaml, else the task's own name)."""
    found: dict[str, str] = {}
    for name in project.crews[crew].tasks:
        phase = project.phase_of(name)
        if phase:
            found[phase] = name
    return found


def transform_parts(batch_len: int, items_per_call: int | None, process: str) -> int:
    """Transform calls for a batch of ``batch_len`` items (``batch_runner._per_call``)."""
    if items_per_call is not None and items_per_call < batch_len and process == "sequential":
        return math.ceil(batch_len / items_per_call)
    return 1


def calls_per_phase(phases: dict[str, str], batch_sizes: list[int], items_per_call: int | None,
                    process: str, tooled: frozenset[str] = frozenset()) -> dict[str, int]:
    """Model calls per phase for batches of these sizes, and their total (see the module docstring).

    A task whose agent has tools (``tooled``: its phases) makes at least two calls: the agent's answer, then
    CrewAI's call that turns it into the structured output; each tool it calls adds one more.
    """
    calls: dict[str, int] = {}
    if "extract" in phases:
        calls["extract"] = len(batch_sizes)
    if "transform" in phases:
        calls["transform"] = sum(transform_parts(n, items_per_call, process) for n in batch_sizes)
    if "load" in phases:
        calls["load"] = 1 if batch_sizes else 0
    for phase in tooled & set(calls):
        calls[phase] *= 2
    calls["total"] = sum(calls.values())
    return calls


def tooled_phases(project: ProjectSpec, crew: str, phases: dict[str, str], model_of: Any) -> frozenset[str]:
    """Phases whose agent gets tools (``ModelChooser.uses_tools``: not on the embedded model)."""
    found = set()
    for phase, name in phases.items():
        task = project.tasks[name]
        agent = project.agents.get(task.agent or "")
        if (task.tools or (agent is not None and agent.tools)) and model_of(task.agent):
            found.add(phase)
    return frozenset(found)


def sort_items(items: list[Item], crew: str, ledger: Ledger | None, config_hash: str, full_refresh: bool
               ) -> tuple[dict[str, int], list[Item]]:
    """Counts of new, changed, unchanged and unreadable items, and the items a run would process
    (``DataPath.read_items``' skip: unchanged = loaded before from the same content under the same config)."""
    known = ledger.items_of_crew(crew) if ledger is not None else {}
    counts = dict.fromkeys(("new", "changed", "unchanged", "unreadable"), 0)
    todo: list[Item] = []
    for item in items:
        before = known.get(item.item_id)
        if not full_refresh and not item.quarantined and before == (item.content_hash, config_hash, "loaded"):
            counts["unchanged"] += 1
            continue
        if item.quarantined:
            counts["unreadable"] += 1
            continue
        counts["new" if before is None else "changed"] += 1
        todo.append(item)
    counts["to_process"] = len(todo)
    return counts, todo


def record_tokens(schema: SchemaSpec) -> int:
    """A record's completion, sized on the schema: enum values, strings about half their limit, checks."""
    chars = 30 + (160 if schema.reasoning else 0)  # item_id, braces; the reasoning sentence
    for name, spec in schema.fields.items():
        if spec.checks:
            chars += sum(len(check) + 10 for check in spec.checks)
        elif spec.type == "enum":
            chars += len(name) + 6 + max((len(str(v)) for v in spec.values or [""]), default=4)
        elif spec.type == "string":
            chars += len(name) + 6 + min(int(spec.max or 80), 80) // 2
        else:
            chars += len(name) + 12
    return chars // CHARS_PER_TOKEN


def measured_tokens(project: ProjectSpec, options: RunOptions, phases: dict[str, str], batches: list[Batch]
                    ) -> dict[str, tuple[int, int]]:
    """Phase -> (prompt, completion) tokens of all its calls, from the text the crew would send."""
    spec = project.crews[options.crew]
    schema = spec.output_schema
    assert schema is not None and options.process is not None
    schema_text = describe_schema(schema)

    def prompt(phase: str, part: Batch) -> int:
        task = project.tasks[phases[phase]]
        agent = project.agents.get(task.agent or "")
        values = {"items": render_items(part, "DATA-00000000", spec.chars_per_item), "schema": schema_text,
                  "batch": str(part.number), "crew": options.crew, "run_id": "0" * 26, "today": "2026-01-01",
                  "findings": "(see context)", "records": "(see context)"} | dict(options.inputs)
        text = fill(task.description, values) + fill(task.expected_output, values)
        if agent is not None:
            text += fill(agent.role, values) + fill(agent.goal, values) + fill(agent.backstory, values)
        return len(text) // CHARS_PER_TOKEN

    out: dict[str, tuple[int, int]] = {}
    per_record = record_tokens(schema)
    for phase in phases:
        if phase == "extract":
            out[phase] = (sum(prompt(phase, b) for b in batches),
                          sum(len(b.items) for b in batches) * FINDINGS_TOKENS_PER_ITEM)
        elif phase == "transform":
            parts = []
            for batch in batches:
                many = transform_parts(len(batch.items), spec.items_per_call, options.process) > 1
                step = spec.items_per_call if many and spec.items_per_call else len(batch.items)
                parts += [Batch(batch.number, batch.items[s:s + step]) for s in range(0, len(batch.items), step)]
            out[phase] = (sum(prompt(phase, p) for p in parts), sum(len(p.items) for p in parts) * per_record)
        elif phase == "load" and batches:
            everything = Batch(0, [i for b in batches for i in b.items])
            records = len(everything.items) * per_record // 2  # the records as one line each
            out[phase] = (prompt(phase, Batch(0, [])) + records, DIGEST_TOKENS)
    return out


def past_averages(ledger: Ledger | None, crew: str, model: str, phases: dict[str, str]
                  ) -> tuple[dict[str, tuple[float, float]], float | None]:
    """Phase -> mean (prompt, completion) tokens per call, and the mean seconds per call, over the crew's last
    finished runs on ``model`` (empty and None when it never ran there)."""
    if ledger is None:
        return {}, None
    import json

    finished = [r for r in ledger.runs(50, crew=crew) if r["status"] in ("succeeded", "partial")
                and json.loads(r["models_json"] or "[]") == [model]]
    if not finished:
        return {}, None
    rows = ledger.call_averages([r["run_id"] for r in finished[:PAST_RUNS]])
    phase_of = {task: phase for phase, task in phases.items()}
    per_phase = {phase_of[r["task"]]: (float(r["prompt"]), float(r["completion"])) for r in rows
                 if r["task"] in phase_of}
    timed = [(float(r["latency_ms"]), int(r["n"])) for r in rows if r["latency_ms"] is not None]
    total = sum(n for _, n in timed)
    seconds = sum(ms * n for ms, n in timed) / total / 1000 if total else None
    return per_phase, seconds


def catalogue_seconds_per_item(model: str) -> float | None:
    """An embedded model's measured seconds per item from its catalogue ``quality`` note ("17 s/item")."""
    if not model.startswith("local/"):
        return None
    from etlcrew.model_runtime.catalogue import load_catalogue

    entry = next((e for e in load_catalogue() if e.name == model.partition("/")[2]), None)
    found = re.search(r"(\d+(?:\.\d+)?) s/item", entry.quality if entry is not None else "")
    return float(found.group(1)) if found else None


def make_plan(settings: Settings, project: ProjectSpec, options: RunOptions, ledger: Ledger | None,
              config_hash: str, model: str) -> Plan:
    """The plan of a run with sources (``options`` resolved: ``RunOptions.resolved_for``)."""
    from etlcrew.model_runtime.usage import cost_usd, load_prices
    from etlcrew.pipeline.sources import iter_items

    spec = project.crews[options.crew]
    assert options.batch_size is not None and options.process is not None and options.concurrency is not None
    items = [item for source in spec.sources for item in iter_items(source, settings.project_dir)
             if options.only_items is None or item.item_id in options.only_items]
    counts, todo = sort_items(items, options.crew, ledger, config_hash, options.full_refresh)
    size = options.batch_size
    batches = [Batch(n + 1, todo[s:s + size]) for n, s in enumerate(range(0, len(todo), size))]
    phases = phases_of(project, options.crew)
    from etlcrew.pipeline.models import ModelChooser

    chooser = ModelChooser(project, options.crew, settings, options.model, options.base_url)
    tooled = tooled_phases(project, options.crew, phases, chooser.uses_tools)
    plan = Plan(options.crew, model, options.process, size, spec.items_per_call, options.concurrency, counts,
                len(batches), calls_per_phase(phases, [len(b.items) for b in batches], spec.items_per_call,
                                              options.process, tooled),
                exact=options.process == "sequential" and not tooled)
    past, latency = past_averages(ledger, options.crew, model, phases)
    measured = measured_tokens(project, options, phases, batches)
    for phase, (prompt, completion) in measured.items():
        if phase in past:
            prompt, completion = (round(v * plan.calls[phase]) for v in past[phase])
        plan.prompt_tokens += prompt
        plan.completion_tokens += completion
    plan.tokens_from = "past runs" if past else "prompt"
    if latency is not None:
        plan.seconds, plan.seconds_from = latency * plan.calls["total"] / max(1, options.concurrency), "past runs"
    elif (per_item := catalogue_seconds_per_item(model)) is not None:
        plan.seconds, plan.seconds_from = per_item * counts["to_process"], "catalogue"
    load_prices(settings.config_dir)
    plan.cost_usd = cost_usd(model, plan.prompt_tokens, plan.completion_tokens)
    return plan


def model_in_force(project: ProjectSpec, options: RunOptions, settings: Settings) -> tuple[str, list[str]]:
    """The transform agent's model (the one most calls go to) and every model the run may use."""
    from etlcrew.pipeline.models import ModelChooser

    chooser = ModelChooser(project, options.crew, settings, options.model, options.base_url)
    task = phases_of(project, options.crew).get("transform") or next(iter(project.crews[options.crew].tasks), "")
    agent = project.tasks[task].agent if task in project.tasks else None
    return chooser.name_for(agent), chooser.planned_models()


def plain_plan(project: ProjectSpec, options: RunOptions, model: str) -> Plan:
    """A crew without sources: one kickoff, one call per task (more when its agents use tools)."""
    spec = project.crews[options.crew]
    assert options.process is not None
    tasks = [project.tasks[name] for name in spec.tasks]
    prompt = sum(len(fill(t.description, dict(options.inputs)) + t.expected_output) for t in tasks)
    plan = Plan(options.crew, model, options.process, 0, None, 1, {}, 0, {"total": len(tasks)},
                exact=False, prompt_tokens=prompt // CHARS_PER_TOKEN, completion_tokens=DIGEST_TOKENS * len(tasks))
    from etlcrew.model_runtime.usage import cost_usd

    plan.cost_usd = cost_usd(model, plan.prompt_tokens, plan.completion_tokens)
    return plan


def plan_for(settings: Settings, project: ProjectSpec, options: RunOptions) -> Plan:
    """``run --dry-run``: the plan of a run started now, reading an existing ledger only (none is created)."""
    from etlcrew.ledger import open_existing
    from etlcrew.model_runtime.usage import load_prices
    from etlcrew.pipeline.config_hash import relevant_config_hash

    options = options.resolved_for(project.crews[options.crew])
    model, models = model_in_force(project, options, settings)
    load_prices(settings.config_dir)
    if not project.crews[options.crew].sources:
        return plain_plan(project, options, model)
    ledger = open_existing(settings.state_dir)
    try:
        return make_plan(settings, project, options, ledger, relevant_config_hash(project, options, models), model)
    finally:
        if ledger is not None:
            ledger.close()


def plan_of_run(settings: Settings, project: ProjectSpec, options: RunOptions, ledger: Ledger, config_hash: str
                ) -> dict[str, Any]:
    """The plan a real run stores before it starts (``runs.options_json["plan"]``), for ``show`` to print beside
    what it spent; ``options`` resolved, ``ledger`` open."""
    model, _ = model_in_force(project, options, settings)
    if not project.crews[options.crew].sources:
        return plain_plan(project, options, model).as_dict()
    return make_plan(settings, project, options, ledger, config_hash, model).as_dict()
