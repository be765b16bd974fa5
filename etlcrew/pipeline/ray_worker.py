"""One batch, end to end, inside a Ray worker: the crew is built here from the driver's validated config.

The worker writes nothing: it returns the phase outputs, the finished transform parts, the model calls and the
outcome for the driver to commit (``pipeline.executors``), through the same journal calls a local batch makes.
``_CollectingJournal`` must have every method of ``RunJournal`` that a ``BatchRunner`` calls: ``part_done`` once
missing failed each batch after its transform calls, and the batch was redone item by item (every item asked, and
counted, twice). Every model call is reserved from the run's budget before it starts, from the run's
``BudgetGate`` actor when the run has a budget (``pipeline.ray_budget``); a refused call ends the task with what
it finished and no outcome.

Models are built once per worker process and run: the embedded model starts one llama.cpp server per worker
process (a cluster can instead point every worker at one OpenAI-compatible server
with ``--base-url``). The driver's failpoint (``pipeline.failpoints``) comes with the job, since a worker does not
share the driver's environment: ``ETLCREW_FAILPOINT=ray-worker-phase@<file>`` kills the first worker to finish a
phase, once: the test of a worker dying mid-batch.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from etlcrew.pipeline import failpoints
from etlcrew.pipeline.batches import Batch
from etlcrew.pipeline.journal import BatchOutcome


@dataclass
class RemoteResult:
    """What a Ray worker sends back: the batch's committed-to-be phases and parts, its model calls and its
    outcome (``None`` when the run's budget refused a call: the batch is left for a resume)."""

    outcome: BatchOutcome | None
    phases: list[tuple[str, str]] = field(default_factory=list)  # (phase, raw output), in order
    calls: list[Any] = field(default_factory=list)  # model_runtime.usage.CallRecord
    reused: bool = False  # the outcome was already committed before a resume
    parts: list[tuple[str, str]] = field(default_factory=list)  # (part key, candidate records), in order
    batch_no: int = 0
    reserved: int = 0  # model calls this task reserved from the run's budget (its attempts)
    budget_stop: str | None = None  # the limit that refused a call (max_llm_calls, ...), when one did

_built: dict[str, tuple[Any, Any]] = {}  # run_id -> (ModelChooser, ToolBox), this process's current run


class _Reservations:
    """The model calls of this process's current task, each reserved from the run's gate (when the run has a
    budget) before it starts; the count goes back to the driver, which counts the run's calls."""

    def __init__(self, gate: Any = None) -> None:
        self.gate, self.count = gate, 0
        self._lock = threading.Lock()  # the transform's parts call the model from several threads

    def reserve(self) -> bool:
        if self.gate is not None:
            import ray

            if not ray.get(self.gate.reserve.remote()):
                return False
        with self._lock:
            self.count += 1
        return True

    def budget_stop(self) -> str | None:
        """The limit that refused a call, as the gate has it."""
        if self.gate is None:
            return None
        import ray

        return ray.get(self.gate.budget_stop.remote())  # type: ignore[no-any-return]


_task = _Reservations()  # a Ray worker runs one task at a time


def _reserve() -> bool:
    """The ``reserve`` hook of the models this process builds for a run: the current task's."""
    return _task.reserve()


class _CollectingJournal:
    """The part of ``RunJournal`` a ``BatchRunner`` uses, keeping phases and the outcome in memory."""

    def __init__(self, run_id: str, failpoint: str | None = None) -> None:
        self.run_id, self.failpoint = run_id, failpoint
        self.phases: list[tuple[str, str]] = []
        self.parts: list[tuple[str, str]] = []
        self.outcome: BatchOutcome | None = None

    def emit(self, type_: str, **fields: object) -> None:
        pass

    def phase_done(self, batch_no: int, phase: str, output: str) -> None:
        self.phases.append((phase, output))
        failpoints.hit("ray-worker-phase", self.failpoint)

    def part_done(self, batch_no: int, key: str, output: str) -> None:
        self.parts.append((key, output))

    def outcome_done(self, outcome: BatchOutcome) -> None:
        self.outcome = outcome


def _state_dir(settings: Any) -> Path:
    """The driver's state folder when this worker shares its disk, else a private one (CrewAI's storage only)."""
    return settings.state_dir if settings.state_dir.parent.is_dir() else Path(tempfile.gettempdir()) / "etlcrew"


def _models_and_tools(job: dict[str, Any]) -> tuple[Any, Any]:
    from etlcrew.pipeline.models import ModelChooser
    from etlcrew.pipeline.options import ToolBox

    run_id = job["run_id"]
    if run_id not in _built:
        options = job["options"]
        chooser = ModelChooser(job["project"], options.crew, job["settings"], options.model, options.base_url,
                               parallel=1, reserve=_reserve)
        chooser.prepare()
        _built.clear()
        _built[run_id] = (chooser, ToolBox(job["tools"]))
    return _built[run_id]


def run_batch(job: dict[str, Any], batch: Batch, stored_phases: dict[str, str] | None) -> RemoteResult:
    """The Ray task: run ``batch`` (reusing ``stored_phases``) and return everything the driver must commit."""
    global _task
    from etlcrew.crewai_env import import_crewai, quiet_crewai_logging

    settings, project, options = job["settings"], job["project"], job["options"]
    import_crewai(_state_dir(settings))
    quiet_crewai_logging()
    from etlcrew.model_runtime.resilience import CallsStopped
    from etlcrew.model_runtime.usage import UsageMeter
    from etlcrew.observe.events import CrewaiBridge, EventHub
    from etlcrew.pipeline.batch_runner import BatchRunner
    from etlcrew.tools.scope import scope_for_crew, use_scope

    gate = job.get("gate")
    _task = reservations = _Reservations(gate)
    chooser, toolbox = _models_and_tools(job)
    journal = _CollectingJournal(job["run_id"], job.get("failpoint"))
    runner = BatchRunner(settings, project, options, chooser, toolbox, journal)  # type: ignore[arg-type]
    events = EventHub(job["run_id"], {name: task.phase or name for name, task in project.tasks.items()})
    calls: list[Any] = []

    def record(call: Any) -> None:
        task, agent = events.at_work_in(call.batch_no)
        calls.append(replace(call, task=call.task or task, agent=call.agent or agent))
        if gate is not None and call.error is None:  # a token budget stops the next call, as in the driver
            gate.add_tokens.remote(call.prompt_tokens + call.completion_tokens)

    outcome, budget_stop = None, None
    with UsageMeter(record), CrewaiBridge(events), use_scope(scope_for_crew(project, options.crew, settings)):
        try:
            outcome = runner.run(batch, stored_phases)
        except CallsStopped:  # the budget is spent: what finished goes back, the batch waits for a resume
            budget_stop = reservations.budget_stop()
    return RemoteResult(outcome, journal.phases, calls, parts=journal.parts, batch_no=batch.number,
                        reserved=reservations.count, budget_stop=budget_stop)
