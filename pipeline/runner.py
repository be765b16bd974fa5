"""Run one crew: build it from the validated project and kick it off, recording what it produced.

A crew without sources is kicked off once with its inputs (a plain CrewAI crew). A crew with sources runs the
data path (``pipeline.datapath``): items in batches through extract, transform and load. CrewAI must already be
prepared through ``etlcrew.crewai_env``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from etlcrew.settings import Settings
from etlcrew.specs.loader import ProjectSpec
from pipeline.models import ModelChooser
from pipeline.run_result import RunResult
from tools.registry import ToolInfo, load_tool


@dataclass(frozen=True)
class RunOptions:
    """What the command line (or a caller) asks of a run, beyond the YAML."""

    crew: str
    inputs: dict[str, object]
    process: str | None = None
    model: str | None = None
    base_url: str | None = None
    batch_size: int | None = None
    concurrency: int | None = None
    full_refresh: bool = False


def new_run_id() -> str:
    """Run ids sort by time (ULIDs)."""
    from ulid import ULID

    return str(ULID())


class ToolBox:
    """Loads each named tool once per run; batches building crews at once share it safely."""

    def __init__(self, tools: dict[str, ToolInfo]) -> None:
        self._infos = tools
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def __call__(self, names: list[str]) -> list[object]:
        with self._lock:
            for name in names:
                if name not in self._loaded:
                    self._loaded[name] = load_tool(self._infos[name])
            return [self._loaded[n] for n in names]


def relevant_config_hash(project: ProjectSpec, crew: str, models: list[str], process: str) -> str:
    """What decides a record besides the item's content: the crew, its agents and tasks, models and process.

    An item whose content hash and this hash are unchanged since it was loaded is skipped on the next run.
    """
    spec = project.crews[crew]
    parts = {
        "crew": spec.model_dump(mode="json", by_alias=True, exclude={"default", "concurrency", "description"}),
        "agents": {a: project.agents[a].model_dump(mode="json") for a in spec.agents if a in project.agents},
        "tasks": {t: project.tasks[t].model_dump(mode="json") for t in spec.tasks},
        "models": models, "process": process,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_crew(settings: Settings, project: ProjectSpec, tools: dict[str, ToolInfo], options: RunOptions) -> RunResult:
    """Execute the crew and return its result, recording it in the ledger; exceptions propagate to the command
    (exit codes there) after the run is marked failed or interrupted."""
    from ledger import open_ledger
    from model_runtime.usage import UsageMeter

    crew_spec = project.crews[options.crew]
    result = RunResult(run_id=new_run_id(), crew=options.crew, process=options.process or crew_spec.process)
    started = time.monotonic()
    concurrency = options.concurrency or crew_spec.concurrency
    chooser = ModelChooser(project, options.crew, settings, options.model, options.base_url, parallel=concurrency)
    toolbox = ToolBox(tools)
    chooser.prepare()
    models = chooser.models_in_use()
    config_hash = relevant_config_hash(project, options.crew, models, result.process)
    ledger = open_ledger(settings.state_dir)
    ledger.start_run(result.run_id, options.crew, options.inputs, config_hash)

    def record_call(model: str, prompt: int, completion: int, latency_ms: float | None, error: str | None) -> None:
        ledger.record_call(result.run_id, model, prompt, completion, latency_ms, error)

    meter = UsageMeter(record_call)
    try:
        with meter:
            if crew_spec.sources:
                from pipeline.datapath import run_datapath

                run_datapath(settings, project, options, chooser, toolbox, result, ledger, config_hash)
            else:
                _run_plain(settings, project, options, chooser, toolbox, result)
    except BaseException as exc:
        result.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        result.error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        result.duration_s = time.monotonic() - started
        result.llm = meter.usage.as_dict()
        result.models = models
        ledger.finish_run(result.as_dict())
        ledger.close()
    return result


def _run_plain(settings: Settings, project: ProjectSpec, options: RunOptions, chooser: ModelChooser,
               toolbox: ToolBox, result: RunResult) -> None:
    import datetime as dt

    from crews.builder import build_crew
    from etlcrew.specs.placeholders import RUNTIME_PLACEHOLDERS

    runtime: dict[str, object] = dict.fromkeys(RUNTIME_PLACEHOLDERS, "(none)")
    runtime |= {"crew": options.crew, "run_id": result.run_id, "today": dt.date.today().isoformat()}
    crew = build_crew(project, options.crew, inputs=runtime | options.inputs, llm_for=chooser.llm_for,
                      tools_for=toolbox, project_dir=settings.project_dir, process=options.process)
    output = crew.kickoff()
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    path = settings.output_dir / f"{options.crew}-result.md"
    path.write_text(str(output.raw).strip() + "\n", encoding="utf-8")
    written = [path]
    for task in crew.tasks:
        if task.output_file:
            written.append(Path(task.output_file))
    result.outputs = [str(p) for p in written]
    result.status = "succeeded"
