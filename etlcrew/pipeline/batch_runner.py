"""Run the crew's phases on one batch: one CrewAI kickoff, each finished phase committed to the ledger at once.

A phase committed before a crash is not run again: its stored output is given to the next phase as context
(``crews.builder`` ``prior_outputs``). Code, not the model, validates the records. An item whose record is
invalid gets one retry on its own, then is quarantined with the reason; a batch whose kickoff fails is retried
item by item. Errors that concern the whole run (the model is unreachable, Ctrl-C) stop the run instead.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.errors import ConfigError, ConfigProblem, ModelError
from etlcrew.pipeline.batches import (
    Batch,
    batch_output_model,
    describe_schema,
    findings_model,
    new_data_tag,
    render_items,
)
from etlcrew.pipeline.checks import decided_confidence
from etlcrew.pipeline.journal import BatchOutcome, RunJournal
from etlcrew.pipeline.records import QuarantineRow, candidate_records, validate_batch
from etlcrew.pipeline.review import ReviewRow, degenerate_items, low_confidence
from etlcrew.specs.project import PHASES

if TYPE_CHECKING:
    from etlcrew.pipeline.models import ModelChooser
    from etlcrew.pipeline.options import RunOptions, ToolBox
    from etlcrew.settings import Settings
    from etlcrew.specs.project import ProjectSpec

PART_PREFIX = "part:transform:"  # committed transform parts of an unfinished batch (``_transform_in_parts``)


def phase_tasks(project: ProjectSpec, crew: str) -> dict[str, str]:
    """Phase -> task name for the crew (``plan.phases_of``); a crew with sources must have a transform."""
    from etlcrew.pipeline.plan import phases_of

    found = phases_of(project, crew)
    if "transform" not in found:
        raise ConfigError([ConfigProblem(project.file_of("crews"), f"crew '{crew}' has sources but no transform task",
                                         hint="add a task with 'phase: transform' (or named transform)")])
    return found


def _stops_run(exc: BaseException) -> bool:
    """Failures of the run, not of this batch: an unreachable model, too many failures in a row, Ctrl-C."""
    from etlcrew.model_runtime.resilience import CallsStopped

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
        every = phase_tasks(project, options.crew)  # the load phase runs once per run (``pipeline.outcome``)
        self.phases = {phase: task for phase, task in every.items() if phase != "load"}
        self.phase_of = {task: phase for phase, task in every.items()}
        self.tag = new_data_tag()
        self.schema_text = describe_schema(self.schema)
        self.concurrency = options.concurrency or 1  # options are the resolved run plan

    def _models(self, batch: Batch) -> dict[str, type]:
        """The batch's structured outputs, per phase (building them costs ~30 ms a batch: once per batch)."""
        ids = batch.item_ids
        models: dict[str, type] = {"transform": batch_output_model(self.schema, ids)}
        if "extract" in self.phases:
            models["extract"] = findings_model(ids)
        return models

    def _runtime(self, batch: Batch) -> dict[str, Any]:
        """The data path's placeholders for one kickoff: the batch's items (cut, delimited), schema, ids."""
        return {
            "items": render_items(batch, self.tag, self.spec.chars_per_item), "schema": self.schema_text,
            "batch": str(batch.number), "crew": self.options.crew, "run_id": self.journal.run_id,
            "today": dt.date.today().isoformat(), "findings": "(see context)", "records": "(see context)",
        }

    def _crew(self, batch: Batch, models: dict[str, type], prior: dict[str, str], callback: Any,
              only_phase: str | None = None) -> Any:
        """A CrewAI crew for this batch: every phase not in ``prior``, or just ``only_phase``."""
        from etlcrew.crews.builder import build_crew

        return build_crew(self.project, self.options.crew, inputs=self._runtime(batch) | self.options.inputs,
                          llm_for=self.chooser.llm_for, tools_for=self.toolbox,
                          project_dir=self.settings.project_dir,
                          process="sequential" if self.options.process == "graph" else self.options.process,
                          output_models={self.phases[p]: models[p] for p in self.phases if p in models},
                          agent_tools=self.chooser.uses_tools,
                          prior_outputs={self.phases[p]: text for p, text in prior.items() if p in self.phases},
                          task_callback=callback,
                          only_tasks={self.phases[only_phase]} if only_phase else set(self.phases.values()))

    def _per_call(self, batch: Batch) -> int | None:
        """Items per transform call when smaller than the batch (sequential crews only), else ``None``."""
        size = self.spec.items_per_call
        sequential = self.options.process == "sequential"
        return size if size is not None and size < len(batch.items) and sequential else None

    def _kickoff(self, batch: Batch, models: dict[str, type], stored: dict[str, str], commit: bool
                 ) -> dict[str, Any]:
        """Phase -> output (pydantic instance, or raw text) for every phase; runs only the phases not stored."""
        outputs: dict[str, Any] = {phase: _parse(models[phase], text) for phase, text in stored.items()
                                   if phase in models}
        if all(phase in stored for phase in self.phases):
            return outputs
        if self._per_call(batch):
            self._phase_by_phase(batch, models, dict(stored), outputs, commit)
            return outputs

        def committed(task_output: Any) -> None:
            phase = self.phase_of.get(task_output.name)
            if phase:
                outputs[phase] = task_output.pydantic or task_output.raw
                if commit:
                    self.journal.phase_done(batch.number, phase, task_output.raw)

        self._crew(batch, models, stored, committed).kickoff()
        return outputs

    def _phase_by_phase(self, batch: Batch, models: dict[str, type], texts: dict[str, str],
                        outputs: dict[str, Any], commit: bool) -> None:
        """One kickoff per phase; the transform once per ``items_per_call`` items, each seeing its own text.

        Each transform call's prompt starts with what all calls share (role, instructions, schema) and ends with
        the item, so llama.cpp reuses the shared prefix from its cache (``cache_prompt``).
        """
        for phase in PHASES:
            if phase not in self.phases or phase in texts:
                continue
            raw, outputs[phase], texts[phase] = self.phase_output(batch, models, texts, phase,
                                                                  texts if commit else None)
            if commit:
                self.journal.phase_done(batch.number, phase, raw)

    def phase_output(self, batch: Batch, models: dict[str, type], texts: dict[str, str], phase: str,
                     stored: dict[str, str] | None = None) -> tuple[str, Any, str]:
        """One phase of ``batch`` in its own kickoff (the transform: one per ``items_per_call`` items, ``stored``
        holding the parts already committed), given the earlier phases' ``texts``: (text to commit, parsed output,
        context for the next phase). ``process: graph`` runs its phase nodes through here."""
        if phase == "transform":
            raw = self._transform_in_parts(batch, texts.get("extract"), stored)
            return raw, _parse(models[phase], raw), raw
        done: list[Any] = []
        self._crew(batch, models, texts, done.append, only_phase=phase).kickoff()
        structured = done[-1].pydantic if done else None
        # the next phase gets the structured output, not the free text a tool-using turn may leave in raw
        raw = structured.model_dump_json() if structured is not None else (done[-1].raw if done else "")
        return raw, structured if structured is not None else raw, raw

    def _transform_in_parts(self, batch: Batch, findings: str | None, stored: dict[str, str] | None) -> str:
        """The batch's records as one JSON text, from one transform call per part, ``concurrency`` parts at once
        (the embedded server has as many slots); a failed part leaves its items without a record (they are
        retried one by one, then quarantined).

        With ``stored`` (the batch's committed phases), each finished part is committed at once and a part
        committed by an earlier attempt is not asked again: a run stopped mid-batch (budget, Ctrl-C) pays for no
        call twice when it is resumed.
        """
        import contextvars
        from concurrent.futures import ThreadPoolExecutor

        size = self.spec.items_per_call or len(batch.items)
        parts = [Batch(batch.number, batch.items[s:s + size]) for s in range(0, len(batch.items), size)]
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(parts)))) as pool:
            # each call keeps the batch's context (CURRENT_BATCH, the retry scope) in its own thread
            futures = [pool.submit(contextvars.copy_context().run, self._transform_part, part, findings, stored)
                       for part in parts]
            records = [record for future in futures for record in future.result()]
        return json.dumps({"records": records}, ensure_ascii=False)

    def _transform_part(self, part: Batch, findings: str | None, stored: dict[str, str] | None) -> list[Any]:
        key = part_key(part.item_ids)
        if stored is not None and key in stored:
            return list(json.loads(stored[key]))
        prior = {"extract": _findings_for(findings, part.item_ids)} if findings else {}
        done: list[Any] = []
        crew = self._crew(part, {"transform": batch_output_model(self.schema, part.item_ids)}, prior,
                          done.append, only_phase="transform")
        try:
            crew.kickoff()
        except Exception as exc:
            if _stops_run(exc):
                raise
            console.warn(f"batch {part.number}: transform of {', '.join(part.item_ids)} failed: {exc}")
            return []
        records = candidate_records(done[-1].pydantic or done[-1].raw) if done else []
        if stored is not None:
            self.journal.part_done(part.number, key, json.dumps(records, ensure_ascii=False, default=str))
        return records

    def run(self, batch: Batch, stored: dict[str, str] | None = None) -> BatchOutcome:
        """The batch's outcome, committed to the ledger before it is returned (then it only needs loading)."""
        from etlcrew.run_context import CURRENT_BATCH

        token = CURRENT_BATCH.set(batch.number)
        try:
            outcome = self._run(batch, stored or {}, retry=True)
            if self.spec.review.degenerate:
                self._hold_degenerate(batch, outcome)
            self._hold_unsure(outcome)
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
        outcome.confidence = self._confidence(checked.valid)
        failed = [item for item in batch.items if item.item_id not in checked.valid]
        if failed and retry:
            for item in failed:
                again = self._run(Batch(batch.number, [item]), {}, retry=False)
                outcome.records += again.records
                outcome.quarantined += again.quarantined
                outcome.confidence |= again.confidence
        else:
            raw_text = raw.model_dump_json() if hasattr(raw, "model_dump_json") else str(raw)
            outcome.quarantined += [
                QuarantineRow(i.item_id, i.source, checked.reason(i.item_id) or "no valid record", i.text[:2000],
                              raw_text[:4000])
                for i in failed
            ]
        return outcome

    def _hold_degenerate(self, batch: Batch, outcome: BatchOutcome) -> None:
        """Records that look unread (identical, or free text repeated across items) are redone one by one once;
        those that still look so go to review instead of the table (``pipeline.review``)."""
        by_id = {record["item_id"]: record for record in outcome.records}
        suspect = degenerate_items(by_id, self.schema)
        if not suspect:
            return
        if self.spec.items_per_call != 1 and len(batch.items) > 1:  # one by one already: the same call again
            console.warn(f"batch {batch.number}: {len(suspect)} records look unread "
                         f"({next(iter(suspect.values()))}); redoing them one by one")
            for item in batch.items:
                if item.item_id in suspect:
                    again = self._run(Batch(batch.number, [item]), {}, retry=False)
                    if again.records:
                        by_id[item.item_id] = again.records[0]
            suspect = degenerate_items(by_id, self.schema)
        outcome.records = [record for item_id, record in by_id.items() if item_id not in suspect]
        outcome.review += [ReviewRow(item_id, reason, by_id[item_id]) for item_id, reason in suspect.items()]

    def _confidence(self, records: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
        """Per item, the probability of each enum value, when the model's reply carried log-probabilities
        (a value decided by checks: the product of the answers that gave it, ``pipeline.checks``)."""
        from etlcrew.model_runtime.confidence import take

        enums = {name for name, spec in self.schema.fields.items() if spec.type == "enum"}
        found = {item_id: take(item_id) or {} for item_id in records}
        return {item_id: {k: v for k, v in probs.items() if k in enums}
                | decided_confidence(self.schema, records[item_id], probs)
                for item_id, probs in found.items() if probs}

    def _hold_unsure(self, outcome: BatchOutcome) -> None:
        """Records with an enum value below ``review: {min_confidence: ...}`` go to review instead of the table."""
        threshold = self.spec.review.min_confidence
        unsure = {r["item_id"]: why for r in outcome.records
                  if (why := low_confidence(outcome.confidence.get(r["item_id"], {}), threshold))}
        if unsure:
            outcome.review += [ReviewRow(r["item_id"], unsure[r["item_id"]], r) for r in outcome.records
                               if r["item_id"] in unsure]
            outcome.records = [r for r in outcome.records if r["item_id"] not in unsure]

    def _one_by_one(self, batch: Batch, why: str) -> BatchOutcome:
        console.warn(f"batch {batch.number}: {why}; retrying its items one by one")
        total = BatchOutcome(batch.number)
        for item in batch.items:
            part = self._run(Batch(batch.number, [item]), {}, retry=False)
            total.records += part.records
            total.quarantined += part.quarantined
        return total


def part_key(item_ids: list[str]) -> str:
    """The ledger key of one transform part's candidate records (its first item names it)."""
    return f"{PART_PREFIX}{item_ids[0]}"


def _findings_for(findings: str, item_ids: list[str]) -> str:
    """The extract's findings about these items only (all of it when it is not the structured JSON)."""
    try:
        data = json.loads(findings)
        wanted = [f for f in data.get("findings", []) if isinstance(f, dict) and f.get("item_id") in item_ids]
    except (ValueError, AttributeError):
        return findings
    return json.dumps({"findings": wanted}, ensure_ascii=False)


def _parse(model: type, text: str) -> Any:
    """A stored phase output as its pydantic model, or the raw text when it does not validate (as it came)."""
    try:
        return model.model_validate_json(text)  # type: ignore[attr-defined]
    except ValueError:
        return text
