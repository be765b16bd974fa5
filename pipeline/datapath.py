"""The ETL data path of one run: sources → items → batches → (extract, transform, load) → records → targets.

Per batch, the crew's three phases run as one CrewAI kickoff: the researcher's findings feed the transformer,
whose output is constrained to the batch's record schema; the publisher returns a digest and the records that
need action. Code, not the model, validates records and writes them (dlt merge on the primary key), posts
webhooks and writes the report. Items whose record is invalid get one retry on their own, then quarantine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.errors import ConfigError, ConfigProblem, ModelError
from pipeline.batches import (
    Batch,
    batch_output_model,
    batched,
    describe_schema,
    findings_model,
    new_data_tag,
    outcome_model,
    render_items,
)
from pipeline.items import Item
from pipeline.records import QuarantineRow, validate_batch

if TYPE_CHECKING:
    from etlcrew.settings import Settings
    from etlcrew.specs.loader import ProjectSpec
    from ledger import Ledger
    from pipeline.models import ModelChooser
    from pipeline.run_result import RunResult
    from pipeline.runner import RunOptions, ToolBox

PHASES = ("extract", "transform", "load")


@dataclass
class BatchOutcome:
    records: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[QuarantineRow] = field(default_factory=list)
    digest: str = ""
    action_item_ids: list[str] = field(default_factory=list)


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


def _source_items(settings: Settings, project: ProjectSpec, crew: str) -> Iterator[Item]:
    from pipeline.sources import iter_items

    for source in project.crews[crew].sources:
        yield from iter_items(source, settings.project_dir)


class BatchRunner:
    """Runs the crew's phases on one batch; shared by all batches of a run (thread-safe: no mutable state)."""

    def __init__(self, settings: Settings, project: ProjectSpec, options: RunOptions, chooser: ModelChooser,
                 toolbox: ToolBox, run_id: str) -> None:
        self.settings, self.project, self.options = settings, project, options
        self.chooser, self.toolbox, self.run_id = chooser, toolbox, run_id
        self.spec = project.crews[options.crew]
        assert self.spec.output_schema is not None
        self.schema = self.spec.output_schema
        self.phases = phase_tasks(project, options.crew)
        self.tag = new_data_tag()
        self.schema_text = describe_schema(self.schema)

    def _kickoff(self, batch: Batch) -> tuple[Any, type, type]:
        from crews.builder import build_crew

        ids = batch.item_ids
        records_model, outcome = batch_output_model(self.schema, ids), outcome_model(ids)
        runtime = {
            "items": render_items(batch, self.tag, self.spec.chars_per_item), "schema": self.schema_text,
            "batch": str(batch.number), "crew": self.options.crew, "run_id": self.run_id,
            "today": dt.date.today().isoformat(), "findings": "(see context)", "records": "(see context)",
        }
        outputs = {self.phases["transform"]: records_model}
        if "extract" in self.phases:
            outputs[self.phases["extract"]] = findings_model(ids)
        if "load" in self.phases:
            outputs[self.phases["load"]] = outcome
        crew = build_crew(self.project, self.options.crew, inputs=runtime | self.options.inputs,
                          llm_for=self.chooser.llm_for, tools_for=self.toolbox, project_dir=self.settings.project_dir,
                          process=self.options.process, output_models=outputs,
                          agent_tools=self.chooser.uses_tools)
        return crew.kickoff(), records_model, outcome

    def _task_output(self, crew_output: Any, phase: str) -> Any:
        name = self.phases.get(phase)
        for task_output in crew_output.tasks_output:
            if task_output.name == name:
                return task_output.pydantic or task_output.json_dict or task_output.raw
        return None

    def run(self, batch: Batch, retry: bool = True) -> BatchOutcome:
        outcome = BatchOutcome()
        try:
            crew_output, records_model, _ = self._kickoff(batch)
        except ModelError:
            raise  # the model is unreachable or misconfigured: the run stops (resumable), items stay unprocessed
        except Exception as exc:  # a failed kickoff fails the batch's items, not the run
            if retry and len(batch.items) > 1:
                return self._one_by_one(batch, f"batch failed: {type(exc).__name__}: {exc}")
            outcome.quarantined = [QuarantineRow(i.item_id, i.source, f"model call failed: {exc}", i.text[:2000])
                                   for i in batch.items]
            return outcome
        raw = self._task_output(crew_output, "transform")
        checked = validate_batch(raw, batch.item_ids, records_model)
        outcome.records = list(checked.valid.values())
        failed = [item for item in batch.items if item.item_id not in checked.valid]
        published = self._task_output(crew_output, "load")
        if published is not None and hasattr(published, "digest"):
            outcome.digest = str(published.digest).strip()
            outcome.action_item_ids = [i for i in published.action_item_ids if i in checked.valid]
        if failed and retry:
            for item in failed:
                again = self.run(Batch(batch.number, [item]), retry=False)
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
        total = BatchOutcome()
        for item in batch.items:
            part = self.run(Batch(batch.number, [item]), retry=False)
            total.records += part.records
            total.quarantined += part.quarantined
            total.digest = total.digest or part.digest
        return total


def run_datapath(settings: Settings, project: ProjectSpec, options: RunOptions, chooser: ModelChooser,
                 toolbox: ToolBox, result: RunResult, ledger: Ledger, config_hash: str) -> None:
    """Process every item of the crew's sources and load the outcome; fills ``result``.

    Items unchanged since they were last loaded (same content hash, same relevant config) are skipped unless
    ``--full-refresh``; the ledger learns each item's outcome once it is written to the targets.
    """
    from pipeline.report import report_path, write_report
    from pipeline.targets import load_records

    spec = project.crews[options.crew]
    schema = spec.output_schema
    if schema is None:
        raise ConfigError([ConfigProblem(project.file_of("crews"), f"crew '{options.crew}' has sources but no schema",
                                         hint="add a 'schema:' with a table and fields")])
    runner = BatchRunner(settings, project, options, chooser, toolbox, result.run_id)
    batch_size = options.batch_size or spec.batch_size
    concurrency = options.concurrency or spec.concurrency
    counts = result.items
    all_records: list[dict[str, Any]] = []
    all_quarantined: list[QuarantineRow] = []
    digests: list[str] = []
    pending_bad: list[QuarantineRow] = []
    hashes: dict[str, str] = {}  # item_id -> content hash, until the item's outcome is in the ledger

    def good_items() -> Iterator[Item]:
        for item in _source_items(settings, project, options.crew):
            counts.extracted += 1
            hashes[item.item_id] = item.content_hash
            if not options.full_refresh and not item.quarantined and ledger.unchanged_since_loaded(
                    options.crew, item.item_id, item.content_hash, config_hash):
                counts.skipped += 1
                hashes.pop(item.item_id)
                continue
            if item.quarantined:
                pending_bad.append(QuarantineRow(item.item_id, item.source, item.quarantine_reason or "bad input",
                                                 item.raw))
            else:
                yield item

    def land(outcomes: list[BatchOutcome]) -> None:
        """Load finished batches together: one dlt run costs ~0.3 s whatever its size, so while one load runs
        the batches finishing meanwhile are grouped into the next (bench/concurrency.py)."""
        records = [r for o in outcomes for r in o.records]
        quarantined = [q for o in outcomes for q in o.quarantined] + pending_bad
        pending_bad.clear()
        loaded = load_records(options.crew, schema, list(spec.targets), records, quarantined,
                              result.run_id, settings)
        for error in loaded.errors:
            console.warn(f"target: {error}")
        if loaded.ok:
            states = [(r["item_id"], hashes.pop(r["item_id"], ""), "loaded", None) for r in records]
            states += [(q.item_id, hashes.pop(q.item_id, ""), "quarantined", q.reason) for q in quarantined]
            ledger.record_items(options.crew, result.run_id, config_hash, states)
        counts.loaded += len(records)
        counts.quarantined += len(quarantined)
        all_records.extend(records)
        all_quarantined.extend(quarantined)
        for outcome in outcomes:
            if outcome.digest or outcome.action_item_ids:
                ids = outcome.action_item_ids
                actions = f"\n\nNeeds action: {', '.join(ids)}" if ids else ""
                digests.append((outcome.digest + actions).strip())
        console.info(f"  loaded {counts.loaded} records, {counts.quarantined} quarantined")

    def land_done(in_flight: set[Future[BatchOutcome]]) -> set[Future[BatchOutcome]]:
        done, still = wait(in_flight, return_when=FIRST_COMPLETED)
        land([future.result() for future in done])
        return still

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="batch") as pool:
        in_flight: set[Future[BatchOutcome]] = set()
        for batch in batched(good_items(), batch_size):
            console.info(f"batch {batch.number}: {len(batch.items)} items")
            in_flight.add(pool.submit(runner.run, batch))
            if len(in_flight) >= concurrency * 2:  # bounded: items stream, they are not all held
                in_flight = land_done(in_flight)
        while in_flight:
            in_flight = land_done(in_flight)
    if pending_bad:
        land([])
    _finish(settings, options, schema, spec, result, all_records, all_quarantined, digests, write_report, report_path)


def _finish(settings: Settings, options: RunOptions, schema: Any, spec: Any, result: RunResult,
            records: list[dict[str, Any]], quarantined: list[QuarantineRow], digests: list[str],
            write_report: Any, report_path: Any) -> None:
    from pipeline.targets import post_webhooks
    from pipeline.targets.database import database_path

    outputs: list[str] = []
    for target in spec.targets:
        if target.type in ("duckdb", "sqlite", "dlt"):
            path = database_path(target, options.crew, settings)
            outputs.append(str(path) if path else f"dlt:{target.destination}")
        elif target.type == "report":
            path = write_report(report_path(target, options.crew, settings), options.crew, result.run_id,
                                result.items.as_dict(), records, schema, "\n\n".join(digests) or None, quarantined)
            outputs.append(str(path))
        elif target.type == "webhook" and target.enabled:
            sent: set[str] = set()
            results = post_webhooks(target, records, result.run_id, sent, crew=options.crew, table=schema.table)
            failed = [r for r in results if r.outcome == "failed"]
            if failed:
                console.warn(f"webhook {target.url}: {len(failed)} deliveries failed")
    result.outputs = outputs
    result.status = "partial" if result.items.quarantined else "succeeded"
