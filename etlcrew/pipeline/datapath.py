"""The ETL data path of one run: sources → items → batches → (extract, transform, load) → records → targets.

Batches run concurrently (``pipeline.batch_runner``); each commits its phases and its outcome to the ledger
(``pipeline.journal``) before anything is written. Finished batches are loaded together (dlt merge on the primary
key), then marked landed; the report and webhooks come last, from the ledger, so a resumed run reports and
notifies about every record exactly once. A run resumed after a crash re-reads its sources and reuses every
committed phase and outcome; items it had already landed are neither redone nor counted as skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.errors import ConfigError, ConfigProblem, EtlcrewError, RunInterrupted
from etlcrew.pipeline import failpoints
from etlcrew.pipeline.batch_runner import BatchRunner
from etlcrew.pipeline.batches import Batch, batched
from etlcrew.pipeline.executors import LocalExecutor
from etlcrew.pipeline.items import Item
from etlcrew.pipeline.journal import BatchOutcome, RunJournal, StoredBatch
from etlcrew.pipeline.records import QuarantineRow
from etlcrew.pipeline.run_result import resume_hint

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.observe.events import EventHub
    from etlcrew.pipeline.control import RunControl
    from etlcrew.pipeline.models import ModelChooser
    from etlcrew.pipeline.options import RunOptions, ToolBox
    from etlcrew.pipeline.ray_worker import RemoteResult
    from etlcrew.pipeline.run_result import RunResult
    from etlcrew.settings import Settings
    from etlcrew.specs.project import ProjectSpec

Work = tuple[Batch, StoredBatch | None]
LOAD_AT_RECORDS = 1000  # finished records that are loaded at once, whatever load_interval_s says


def _source_items(settings: Settings, project: ProjectSpec, crew: str) -> Iterator[Item]:
    from etlcrew.pipeline.sources import iter_items

    for source in project.crews[crew].sources:
        yield from iter_items(source, settings.project_dir)


def _reusable(stored: dict[int, StoredBatch], items: list[Item]) -> tuple[list[Work], list[Item]]:
    """Unlanded batches of an earlier attempt whose members are unchanged, and the items left for new batches."""
    by_id = {item.item_id: item for item in items}
    work: list[Work] = []
    claimed: set[str] = set()
    for number in sorted(n for n, b in stored.items() if n > 0 and b.state != "landed"):
        batch = stored[number]
        if all(by_id.get(i) is not None and by_id[i].content_hash == h for i, h in batch.members):
            work.append((Batch(number, [by_id[i] for i, _ in batch.members]), batch))
            claimed.update(i for i, _ in batch.members)
    return work, [item for item in items if item.item_id not in claimed]


def run_datapath(settings: Settings, project: ProjectSpec, options: RunOptions, chooser: ModelChooser,
                 toolbox: ToolBox, result: RunResult, ledger: Ledger, config_hash: str, control: RunControl,
                 events: EventHub | None = None, resuming: bool = False,
                 record_call: Callable[[Any], None] | None = None) -> None:
    """Process the crew's items and load the outcome; fills ``result`` (status, counts, outputs).

    Items unchanged since they were last loaded (same content hash, same relevant config) are skipped unless
    ``--full-refresh``. Raises ``RunInterrupted`` after Ctrl-C and the run's fatal error (model unreachable,
    target down) once everything that finished is committed; returns normally when the budget stopped it.
    """
    spec = project.crews[options.crew]
    schema = spec.output_schema
    if schema is None:
        raise ConfigError([ConfigProblem(project.file_of("crews"), f"crew '{options.crew}' has sources but no schema",
                                         hint="add a 'schema:' with a table and fields")])
    journal = RunJournal(ledger, result.run_id, events)
    runner = BatchRunner(settings, project, options, chooser, toolbox, journal)
    batch_size = options.batch_size or spec.batch_size
    concurrency = options.concurrency or spec.concurrency
    stored = journal.stored() if resuming else {}
    landed_here = {i for b in stored.values() if b.state == "landed" for i, _ in b.members}
    landed = [b.outcome for b in stored.values() if b.state == "landed" and b.outcome]
    landed_before = (sum(len(o.records) for o in landed), sum(len(o.quarantined) for o in landed),
                     sum(len(o.review) for o in landed))
    counts = result.items
    pending_bad: list[tuple[QuarantineRow, str]] = []
    hashes: dict[str, str] = {}  # item_id -> content hash, until the item's outcome is in the ledger
    fatal: list[BaseException] = []
    load_errors: list[str] = []
    progress = {"loaded": 0, "quarantined": 0, "review": 0, "pseudo": min([0, *stored]), "without_batch": 0}

    def fresh_items() -> Iterator[Item]:
        for item in _source_items(settings, project, options.crew):
            if options.only_items is not None and item.item_id not in options.only_items:
                continue
            counts.extracted += 1
            if item.item_id in landed_here:
                progress["without_batch"] += 1
                continue  # landed by this run before it was resumed
            if not options.full_refresh and not item.quarantined and ledger.unchanged_since_loaded(
                    options.crew, item.item_id, item.content_hash, config_hash):
                counts.skipped += 1
                continue
            hashes[item.item_id] = item.content_hash
            if item.quarantined:
                row = QuarantineRow(item.item_id, item.source, item.quarantine_reason or "bad input", item.raw)
                pending_bad.append((row, item.content_hash))
                progress["without_batch"] += 1
            else:
                yield item

    def read_all() -> Iterator[Item]:
        yield from fresh_items()
        journal.emit("items_total", detail={"total": counts.extracted, "skipped": counts.skipped,
                                            "without_batch": progress["without_batch"]})

    def work() -> Iterator[Work]:
        if not resuming:
            for batch in batched(read_all(), batch_size):
                yield batch, None
            return
        again, rest = _reusable(stored, list(read_all()))
        yield from again
        yield from ((batch, None) for batch in batched(rest, batch_size, start=max([0, *stored]) + 1))

    def process(batch: Batch, earlier: StoredBatch | None) -> BatchOutcome:
        if earlier is not None and earlier.outcome is not None:
            journal.reused(earlier.outcome)
            return earlier.outcome  # finished before the crash: only loading is left
        journal.emit("batch_running", batch=batch.number)
        return runner.run(batch, earlier.phases if earlier else None)

    def land(outcomes: list[BatchOutcome]) -> None:
        """Load finished batches together: one dlt run costs ~0.3 s whatever its size, so the batches finishing
        while one load runs are grouped into the next (bench/concurrency.py)."""
        from etlcrew.pipeline.targets import load_records

        if pending_bad:  # items their source could not give: committed like a batch, then loaded with the others
            progress["pseudo"] -= 1
            bad = BatchOutcome(progress["pseudo"], quarantined=[row for row, _ in pending_bad])
            ledger.add_batch(result.run_id, bad.batch_no, [(row.item_id, h) for row, h in pending_bad])
            ledger.save_outcome(result.run_id, bad.batch_no, bad.to_json())
            outcomes = [*outcomes, bad]
            pending_bad.clear()
        records = [r for o in outcomes for r in o.records]
        quarantined = [q for o in outcomes for q in o.quarantined]
        review = [r for o in outcomes for r in o.review]
        loaded = load_records(options.crew, schema, list(spec.targets), records, quarantined, result.run_id, settings,
                              review=review)
        failpoints.hit("mid-load")
        if not loaded.ok:  # the batches stay committed as done: a resume loads them again
            load_errors.extend(loaded.errors)
            for error in loaded.errors:
                console.warn(f"target: {error}")
            control.request_stop("failed")
            return
        states = [(r["item_id"], hashes.pop(r["item_id"], ""), "loaded", None) for r in records]
        states += [(q.item_id, hashes.pop(q.item_id, ""), "quarantined", q.reason) for q in quarantined]
        states += [(r.item_id, hashes.pop(r.item_id, ""), "review", r.reason) for r in review]
        ledger.record_items(options.crew, result.run_id, config_hash, states)
        journal.landed([o.batch_no for o in outcomes])
        failpoints.hit("landed")
        progress["loaded"] += len(records)
        progress["quarantined"] += len(quarantined)
        progress["review"] += len(review)
        journal.emit("landed", detail={"loaded": progress["loaded"] + landed_before[0],
                                       "quarantined": progress["quarantined"] + landed_before[1],
                                       "review": progress["review"] + landed_before[2], "skipped": counts.skipped,
                                       "batches": [o.batch_no for o in outcomes]})

    def absorb(remote: RemoteResult) -> BatchOutcome:
        """A Ray worker's batch, committed here: its calls, then its phases, then its outcome."""
        if remote.reused:
            journal.reused(remote.outcome)
        else:
            for call in remote.calls:
                if record_call is not None:
                    record_call(call)
            for phase, output in remote.phases:
                journal.phase_done(remote.outcome.batch_no, phase, output)
            journal.outcome_done(remote.outcome)
        return remote.outcome

    interval = spec.load_interval_s
    ready: list[BatchOutcome] = []
    ready_since = [0.0]  # when the oldest outcome waiting to be loaded finished

    def land_ready(force: bool = False) -> None:
        """Load the finished batches when the oldest has waited ``load_interval_s`` (or they are many): one dlt
        run costs ~0.45 s whatever its size, and beside the next kickoff it slows that kickoff down too."""
        records = sum(len(o.records) for o in ready)
        due = time.monotonic() - ready_since[0] >= interval or records >= LOAD_AT_RECORDS
        if (ready or pending_bad) and (force or due):
            land(list(ready))
            ready.clear()

    def land_done(in_flight: set[Any]) -> set[Any]:
        """Wait for a batch (or for the pending load to fall due), then load what is due."""
        from etlcrew.model_runtime.resilience import CallsStopped

        timeout = max(0.0, ready_since[0] + interval - time.monotonic()) if ready else None
        results, still = executor.wait_any(in_flight, timeout)
        for outcome, error in results:
            if error is None and outcome is not None:
                if not ready:
                    ready_since[0] = time.monotonic()
                ready.append(outcome)
            elif isinstance(error, CallsStopped):
                control.request_stop("interrupted")
            elif error is not None:
                fatal.append(error)
                control.request_stop("failed")
        land_ready()
        return still

    budget_stop: str | None = None
    if options.executor == "ray":
        from etlcrew.pipeline.executors import RayExecutor

        job = {"settings": settings, "project": project, "tools": toolbox.infos, "options": options,
               "run_id": result.run_id, "kill_marker": os.environ.get("ETLCREW_KILL_WORKER_ONCE")}
        executor: LocalExecutor | RayExecutor = RayExecutor(job, absorb, options.ray_address)
    else:
        executor = LocalExecutor(concurrency, process)
    try:
        in_flight: set[Any] = set()
        for batch, earlier in work():
            if control.stop_requested():
                break
            budget_stop = control.budget_reached()
            if budget_stop:
                break
            if earlier is None:
                journal.begin(batch.number, [(i.item_id, i.content_hash) for i in batch.items])
            journal.emit("batch_started", batch=batch.number,
                         detail={"items": len(batch.items), "resumed": earlier is not None})
            in_flight.add(executor.submit(batch, earlier))
            if executor.name == "ray" and (earlier is None or earlier.outcome is None):
                journal.emit("batch_running", batch=batch.number)  # the cluster schedules it: counted as running
            if len(in_flight) >= concurrency * 2:  # bounded: items stream, they are not all held
                in_flight = land_done(in_flight)
        while in_flight:
            in_flight = land_done(in_flight)
        land_ready(force=True)  # what finished is loaded, also when the run stops early
    finally:
        executor.close()
    outcomes = journal.landed_outcomes()  # read once: with 10k items it is every record of the run
    _count(outcomes, result)
    if fatal:
        raise fatal[0]
    if load_errors:
        raise EtlcrewError(f"a target failed: {load_errors[0]}", hint=resume_hint(result.run_id))
    if control.stop_reason == "interrupted":
        raise RunInterrupted("interrupted: finished work is committed", hint=resume_hint(result.run_id))
    if budget_stop:
        result.status = "stopped-by-budget"
        result.error = budget_stop
        return
    _finish(settings, options, spec, ledger, outcomes, result, runner.phase_of)


def _count(outcomes: list[BatchOutcome], result: RunResult) -> None:
    """Loaded and quarantined come from the ledger, so they include what a resumed run landed before."""
    result.items.loaded = sum(len(o.records) for o in outcomes)
    result.items.quarantined = sum(len(o.quarantined) for o in outcomes)
    result.items.review = sum(len(o.review) for o in outcomes)


def _finish(settings: Settings, options: RunOptions, spec: Any, ledger: Ledger, outcomes: list[BatchOutcome],
            result: RunResult, phase_of: dict[str, str]) -> None:
    """Report and webhooks, from every outcome the run landed; each webhook delivery is kept in the ledger."""
    from etlcrew.pipeline.report import readable_digest, report_path, write_report
    from etlcrew.pipeline.targets import post_webhooks
    from etlcrew.pipeline.targets.database import database_path

    schema = spec.output_schema
    records = [r for o in outcomes for r in o.records]
    quarantined = [q for o in outcomes for q in o.quarantined]
    review = [r for o in outcomes for r in o.review]
    digests = []
    for outcome in outcomes:
        prose = readable_digest(outcome.digest) or ""
        if prose or outcome.action_item_ids:
            ids = outcome.action_item_ids
            actions = f"\n\nNeeds action: {', '.join(ids)}" if ids else ""
            digests.append((prose + actions).strip())
    outputs: list[str] = []
    for target in spec.targets:
        if target.type in ("duckdb", "sqlite", "dlt"):
            path = database_path(target, options.crew, settings)
            outputs.append(str(path) if path else f"dlt:{target.destination}")
        elif target.type == "report":
            path = report_path(target, options.crew, settings)
            if not outcomes and result.items.skipped and path.exists():
                console.info(f"nothing changed since the last run: the report {path.name} is left as it was")
                outputs.append(str(path))
                continue
            path = write_report(path, options.crew, result.run_id,
                                result.items.as_dict(), records, schema, "\n\n".join(digests) or None, quarantined,
                                calls_by_phase=ledger.calls_by_phase(result.run_id, phase_of), review=review)
            outputs.append(str(path))
        elif target.type == "webhook" and target.enabled:
            def sent(key: str, item_id: str, url: str = target.url) -> None:
                ledger.record_delivery(key, result.run_id, url, item_id)
                failpoints.hit("webhook")

            results = post_webhooks(target, records, result.run_id, ledger.delivered, crew=options.crew,
                                    table=schema.table, on_sent=sent)
            failed = [r for r in results if r.outcome == "failed"]
            if failed:
                console.warn(f"webhook {target.url}: {len(failed)} deliveries failed")
    failpoints.hit("finish")
    result.outputs = outputs
    result.status = "partial" if result.items.quarantined or result.items.review else "succeeded"
