"""Run the crew's phases on one batch: one CrewAI kickoff, each finished phase committed to the ledger at once.

A phase committed before a crash is not run again: its stored output is given to the next phase as context
(``crews.builder`` ``prior_outputs``). Code, not the model, validates the records. An item whose record is
invalid gets one retry on its own, then is quarantined with the reason; a batch whose kickoff fails is retried
item by item. Errors that concern the whole run (the model is unreachable, Ctrl-C) stop the run instead.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.errors import ConfigError, ConfigProblem, ModelError
from pipeline.batches import (
    Batch,
    batch_output_model,
    describe_schema,
    findings_model,
    new_data_tag,
    outcome_model,
    render_items,
)
from pipeline.journal import BatchOutcome, RunJournal
from pipeline.records import QuarantineRow, validate_batch

if TYPE_CHECKING:
    from etlcrew.settings import Settings
    from etlcrew.specs.loader import ProjectSpec
    from pipeline.models import ModelChooser
    from pipeline.runner import RunOptions, ToolBox

PHASES = ("extract", "transform", "load")


def phase_tasks(project: ProjectSpec, crew: str) -> dict[str, str]:
    """Phase -> task name for the crew (``phase:`` in tasks.yaml, else the task's own name)."""
    found: dict[str, str] = {}
    for name in project.crews[crew].tasks:
        phase = project.tasks[name].phase or (name if name in PHASES else None)
        if phase:
            found[phase] = name
    if "transform" not in found:
        raise ConfigError([ConfigProblem(project.file_of("crews"), f"crew '{crew}' has sources but no transform task",
                                         hint="add a task with 'phase: transform' (or named transform)")])
    return found


def _stops_run(exc: BaseException) -> bool:
    """Failures of the run, not of this batch: an unreachable model, too many failures in a row, Ctrl-C."""
    from model_runtime.resilience import CallsStopped

    return isinstance(exc, ModelError | CallsStopped)


class BatchRunner:
    """Shared by all batches of a run; thread-safe (no mutable state besides the ledger, which locks)."""

    def __init__(self, settings: Settings, project: ProjectSpec, options: RunOptions, chooser: ModelChooser,
                 toolbox: ToolBox, journal: RunJournal) -> None:
        self.settings, self.project, self.options = settings, project, options
        self.chooser, self.toolbox, self.journal = chooser, toolbox, journal
        self.spec = project.crews[options.crew]
        assert self.spec.output_schema is not None
        self.schema = self.spec.output_schema
        self.phases = phase_tasks(project, options.crew)
        self.phase_of = {task: phase for phase, task in self.phases.items()}
        self.tag = new_data_tag()
        self.schema_text = describe_schema(self.schema)

    def _models(self, batch: Batch) -> dict[str, type]:
        """The batch's structured outputs, per phase (building them costs ~30 ms a batch: once per batch)."""
        ids = batch.item_ids
        models: dict[str, type] = {"transform": batch_output_model(self.schema, ids)}
        if "extract" in self.phases:
            models["extract"] = findings_model(ids)
        if "load" in self.phases:
            models["load"] = outcome_model(ids)
        return models

    def _kickoff(self, batch: Batch, models: dict[str, type], stored: dict[str, str], commit: bool
                 ) -> dict[str, Any]:
        """Phase -> output (pydantic instance, or raw text) for every phase; runs only the phases not stored."""
        from crews.builder import build_crew

        outputs: dict[str, Any] = {phase: _parse(models[phase], text) for phase, text in stored.items()}
        if all(phase in stored for phase in self.phases):
            return outputs
        runtime = {
            "items": render_items(batch, self.tag, self.spec.chars_per_item), "schema": self.schema_text,
            "batch": str(batch.number), "crew": self.options.crew, "run_id": self.journal.run_id,
            "today": dt.date.today().isoformat(), "findings": "(see context)", "records": "(see context)",
        }

        def committed(task_output: Any) -> None:
            phase = self.phase_of.get(task_output.name)
            if phase:
                outputs[phase] = task_output.pydantic or task_output.raw
                if commit:
                    self.journal.phase_done(batch.number, phase, task_output.raw)

        crew = build_crew(self.project, self.options.crew, inputs=runtime | self.options.inputs,
                          llm_for=self.chooser.llm_for, tools_for=self.toolbox, project_dir=self.settings.project_dir,
                          process=self.options.process,
                          output_models={self.phases[p]: models[p] for p in self.phases},
                          agent_tools=self.chooser.uses_tools,
                          prior_outputs={self.phases[p]: text for p, text in stored.items() if p in self.phases},
                          task_callback=committed)
        crew.kickoff()
        return outputs

    def run(self, batch: Batch, stored: dict[str, str] | None = None) -> BatchOutcome:
        """The batch's outcome, committed to the ledger before it is returned (then it only needs loading)."""
        from model_runtime.usage import CURRENT_BATCH

        token = CURRENT_BATCH.set(batch.number)
        try:
            outcome = self._run(batch, stored or {}, retry=True)
        finally:
            CURRENT_BATCH.reset(token)
        outcome.batch_no = batch.number
        self.journal.outcome_done(outcome)
        return outcome

    def _run(self, batch: Batch, stored: dict[str, str], retry: bool) -> BatchOutcome:
        outcome = BatchOutcome(batch.number)
        models = self._models(batch)
        records_model = models["transform"]
        try:
            outputs = self._kickoff(batch, models, stored, commit=retry)
        except Exception as exc:
            if _stops_run(exc):
                raise  # the run stops (resumable); the batch's committed phases are kept
            if retry and len(batch.items) > 1:
                return self._one_by_one(batch, f"batch failed: {type(exc).__name__}: {exc}")
            outcome.quarantined = [QuarantineRow(i.item_id, i.source, f"model call failed: {exc}"[:2000],
                                                 i.text[:2000]) for i in batch.items]
            return outcome
        raw = outputs.get("transform")
        checked = validate_batch(raw, batch.item_ids, records_model)
        outcome.records = list(checked.valid.values())
        failed = [item for item in batch.items if item.item_id not in checked.valid]
        published = outputs.get("load")
        if published is not None and hasattr(published, "digest"):
            outcome.digest = str(published.digest).strip()
            outcome.action_item_ids = [i for i in published.action_item_ids if i in checked.valid]
        if failed and retry:
            for item in failed:
                again = self._run(Batch(batch.number, [item]), {}, retry=False)
                outcome.records += again.records
                outcome.quarantined += again.quarantined
        else:
            raw_text = raw.model_dump_json() if hasattr(raw, "model_dump_json") else str(raw)
            outcome.quarantined += [
                QuarantineRow(i.item_id, i.source, checked.reason(i.item_id) or "no valid record", i.text[:2000],
                              raw_text[:4000])
                for i in failed
            ]
        return outcome

    def _one_by_one(self, batch: Batch, why: str) -> BatchOutcome:
        console.warn(f"batch {batch.number}: {why}; retrying its items one by one")
        total = BatchOutcome(batch.number)
        for item in batch.items:
            part = self._run(Batch(batch.number, [item]), {}, retry=False)
            total.records += part.records
            total.quarantined += part.quarantined
            total.digest = total.digest or part.digest
        return total


def _parse(model: type, text: str) -> Any:
    """A stored phase output as its pydantic model, or the raw text when it does not validate (as it came)."""
    try:
        return model.model_validate_json(text)  # type: ignore[attr-defined]
    except ValueError:
        return text
