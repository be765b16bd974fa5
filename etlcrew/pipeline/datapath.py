"""The ETL data path of one run: sources → items → batches → (extract, transform, load) → records → targets.

``DataPath`` names the steps: ``read_items`` (new or changed items; the rest are skipped), ``plan_batches``
(with a resumed run's unfinished batches first), ``run`` (batches in flight on an executor), ``land`` (write
finished batches to the targets) and ``finish`` (counts, report and webhooks: ``pipeline.finish``).
Batches run concurrently (``pipeline.batch_runner``); each commits its phases and its outcome to the ledger
(``pipeline.journal``) before anything is written. Finished batches are landed together (dlt merge on the primary
key); the report and webhooks come last, from the ledger, so a resumed run reports and notifies about every record
exactly once. A run resumed after a crash re-reads its sources and reuses every committed phase and outcome; items
it had already landed are neither redone nor counted as skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.errors import ConfigError, ConfigProblem, EtlcrewError, RunInterrupted, RunTerminated
from etlcrew.pipeline import failpoints
from etlcrew.pipeline.batch_runner import BatchRunner
from etlcrew.pipeline.batches import Batch, batched
from etlcrew.pipeline.executors import LocalExecutor
from etlcrew.pipeline.items import Item
from etlcrew.pipeline.journal import BatchOutcome, RunJournal, StoredBatch
from etlcrew.pipeline.records import QuarantineRow
from etlcrew.pipeline.run_result import budget_message, budget_resume_command, resume_hint

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.observe.events import EventHub
    from etlcrew.pipeline.control import RunControl
    from etlcrew.pipeline.executors import RayExecutor
    from etlcrew.pipeline.models import ModelChooser
    from etlcrew.pipeline.options import RunOptions, ToolBox
    from etlcrew.pipeline.ray_worker import RemoteResult
    from etlcrew.pipeline.run_result import RunResult
    from etlcrew.settings import Settings
    from etlcrew.specs.project import ProjectSpec

Work = tuple[Batch, StoredBatch | None]
LAND_AT_RECORDS = 1000  # finished records that are landed at once, whatever land_interval_s says


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


class DataPath:
    """One run of a crew with sources; ``options`` is the resolved run plan (``RunOptions.resolved_for``)."""

    def __init__(self, settings: Settings, project: ProjectSpec, options: RunOptions, chooser: ModelChooser,
                 toolbox: ToolBox, result: RunResult, ledger: Ledger, config_hash: str, control: RunControl,
                 events: EventHub | None = None, resuming: bool = False,
                 record_call: Callable[[Any], None] | None = None) -> None:
        self.settings, self.project, self.options, self.toolbox = settings, project, options, toolbox
        self.result, self.ledger, self.config_hash, self.control = result, ledger, config_hash, control
        self.resuming, self.record_call = resuming, record_call
        self.spec = project.crews[options.crew]
        if self.spec.output_schema is None:
            raise ConfigError([ConfigProblem(project.file_of("crews"),
                                             f"crew '{options.crew}' has sources but no schema",
                                             hint="add a 'schema:' with a table and fields")])
        self.schema = self.spec.output_schema
        self.journal = RunJournal(ledger, result.run_id, events)
        self.runner = BatchRunner(settings, project, options, chooser, toolbox, self.journal)
        self.stored = self.journal.stored() if resuming else {}
        landed = [b.outcome for b in self.stored.values() if b.state == "landed" and b.outcome]
        self.landed_before = {key: sum(len(getattr(o, field)) for o in landed) for key, field in
                              (("loaded", "records"), ("quarantined", "quarantined"), ("review", "review"))}
        self.landed_here = {i for b in self.stored.values() if b.state == "landed" for i, _ in b.members}
        self.unreadable: list[tuple[QuarantineRow, str]] = []  # items their source could not give
        self.without_batch = 0  # items counted but never in a batch (landed before a resume, unreadable)
        self.hashes: dict[str, str] = {}  # item_id -> content hash, until the item's outcome is in the ledger
        self.fatal: list[BaseException] = []
        self.land_errors: list[str] = []
        self.land_causes: list[BaseException | None] = []  # dlt's whole chain, shown by --debug
        self.landed_now = {"loaded": 0, "quarantined": 0, "review": 0}
        self.pseudo_batch = min([0, *self.stored])  # unreadable items are committed as batches numbered below 0
        self.ready: list[BatchOutcome] = []  # finished, waiting to be landed
        self.ready_since = 0.0  # when the oldest of them finished
        self.executor: LocalExecutor | RayExecutor | None = None

    # -- read items, plan batches -------------------------------------------------------------------------------

    def read_items(self) -> Iterator[Item]:
        """The items to process: new or changed since last loaded (all with ``--full-refresh``); unreadable ones
        are kept aside as quarantine rows."""
        from etlcrew.pipeline.sources import iter_items

        counts, options = self.result.items, self.options
        for source in self.spec.sources:
            for item in iter_items(source, self.settings.project_dir):
                if options.only_items is not None and item.item_id not in options.only_items:
                    continue
                counts.extracted += 1
                if item.item_id in self.landed_here:
                    self.without_batch += 1
                    continue  # landed by this run before it was resumed
                if not options.full_refresh and not item.quarantined and self.ledger.unchanged_since_loaded(
                        options.crew, item.item_id, item.content_hash, self.config_hash, options.retry_review):
                    counts.skipped += 1
                    continue
                self.hashes[item.item_id] = item.content_hash
                if item.quarantined:
                    row = QuarantineRow(item.item_id, item.source, item.quarantine_reason or "bad input", item.raw)
                    self.unreadable.append((row, item.content_hash))
                    self.without_batch += 1
                else:
                    yield item
        self.journal.emit("items_total", detail={"total": counts.extracted, "skipped": counts.skipped,
                                                 "without_batch": self.without_batch})

    def plan_batches(self) -> Iterator[Work]:
        """Batches of ``batch_size`` items as they stream in; a resumed run first retries its unfinished batches."""
        size = self.options.batch_size
        assert size is not None, "options are the resolved run plan"
        if not self.resuming:
            yield from ((batch, None) for batch in batched(self.read_items(), size))
            return
        again, rest = _reusable(self.stored, list(self.read_items()))
        yield from again
        yield from ((batch, None) for batch in batched(rest, size, start=max([0, *self.stored]) + 1))

    # -- run ----------------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Process every planned batch, landing finished ones as they come; fills ``result`` and raises the run's
        fatal error (model unreachable, target down) once everything that finished is committed."""
        if self.options.full_refresh and not self.resuming:  # rebuilt under the current schema; a resume keeps
            from etlcrew.pipeline.targets.preflight import refresh_targets  # what it landed

            refresh_targets(self.settings, self.project, self.options.crew)
        concurrency = self.options.concurrency
        assert concurrency is not None, "options are the resolved run plan"
        self.executor = self._executor(concurrency)
        budget_stop: str | None = None
        try:
            in_flight: set[Any] = set()
            work = self.plan_batches()
            for batch, earlier in work:
                budget_stop = None if self.control.stop_requested() else self.control.budget_reached()
                if self.control.stop_requested() or budget_stop:
                    for _ in work:  # the rest is counted (extracted, skipped), so it shows as pending
                        pass
                    break
                if earlier is None:
                    self.journal.begin(batch.number, [(i.item_id, i.content_hash) for i in batch.items])
                self.journal.emit("batch_started", batch=batch.number,
                                  detail={"items": len(batch.items), "resumed": earlier is not None})
                in_flight.add(self.executor.submit(batch, earlier))
                if self.executor.name == "ray" and (earlier is None or earlier.outcome is None):
                    self.journal.emit("batch_running", batch=batch.number)  # the cluster schedules it: running
                if len(in_flight) >= concurrency * 2:  # bounded: items stream, they are not all held
                    in_flight = self._wait_and_land(in_flight)
            while in_flight:
                in_flight = self._wait_and_land(in_flight)
            self._land_ready(force=True)  # what finished is landed, also when the run stops early
        finally:
            self.executor.close()
        self.finish(self.control.budget_stop or budget_stop)

    def _executor(self, concurrency: int) -> LocalExecutor | RayExecutor:
        if self.options.executor != "ray":
            return LocalExecutor(concurrency, self._process)
        from etlcrew.pipeline.executors import RayExecutor

        job = {"settings": self.settings, "project": self.project, "tools": self.toolbox.infos,
               "options": self.options, "run_id": self.result.run_id}
        return RayExecutor(job, self._absorb, self.options.ray_address,
                           on_ready=lambda detail: self.journal.emit("executor_ready", detail=detail),
                           control=self.control)

    def _process(self, batch: Batch, earlier: StoredBatch | None) -> BatchOutcome:
        if earlier is not None and earlier.outcome is not None:
            self.journal.reused(earlier.outcome)
            return earlier.outcome  # finished before the crash: only landing is left
        self.journal.emit("batch_running", batch=batch.number)
        return self.runner.run(batch, earlier.phases if earlier else None)

    def _absorb(self, remote: RemoteResult) -> BatchOutcome:
        """A Ray worker's batch, committed here as a local batch commits itself: its calls (counted once, in the
        ledger and in the run's budget), its transform parts, its phases, then its outcome. A task the budget
        stopped has no outcome: what it finished is kept for a resume, and the run stops."""
        from etlcrew.model_runtime.resilience import CallsStopped

        if remote.reused:
            assert remote.outcome is not None, "a reused batch has its committed outcome"
            self.journal.reused(remote.outcome)
            return remote.outcome
        self.control.count_remote(remote.reserved, remote.budget_stop)
        for call in remote.calls:
            if self.record_call is not None:
                self.record_call(call)
        for key, output in remote.parts:
            self.journal.part_done(remote.batch_no, key, output)
        for phase, output in remote.phases:
            self.journal.phase_done(remote.batch_no, phase, output)
        if remote.outcome is None:
            raise CallsStopped("the run's budget is spent")
        self.journal.outcome_done(remote.outcome)
        return remote.outcome

    def _wait_and_land(self, in_flight: set[Any]) -> set[Any]:
        """Wait for a batch (or for the waiting outcomes to fall due), then land what is due."""
        from etlcrew.model_runtime.resilience import CallsStopped

        assert self.executor is not None
        interval = self.spec.land_interval_s
        timeout = max(0.0, self.ready_since + interval - time.monotonic()) if self.ready else None
        results, still = self.executor.wait_any(in_flight, timeout)
        for outcome, error in results:
            if error is None and outcome is not None:
                if not self.ready:
                    self.ready_since = time.monotonic()
                self.ready.append(outcome)
            elif isinstance(error, CallsStopped):
                self.control.request_stop("interrupted")
            elif error is not None:
                self.fatal.append(error)
                self.control.request_stop("failed")
        self._land_ready()
        return still

    # -- land ---------------------------------------------------------------------------------------------------

    def _land_ready(self, force: bool = False) -> None:
        """Land the finished batches when the oldest has waited ``land_interval_s`` (or they are many): one dlt
        run costs ~0.45 s whatever its size, and beside the next kickoff it slows that kickoff down too."""
        records = sum(len(o.records) for o in self.ready)
        due = time.monotonic() - self.ready_since >= self.spec.land_interval_s or records >= LAND_AT_RECORDS
        if (self.ready or self.unreadable) and (force or due):
            self.land(list(self.ready))
            self.ready.clear()

    def _commit_unreadable(self) -> list[BatchOutcome]:
        """Items their source could not give, committed like a batch so they are landed with the others."""
        if not self.unreadable:
            return []
        self.pseudo_batch -= 1
        bad = BatchOutcome(self.pseudo_batch, quarantined=[row for row, _ in self.unreadable])
        self.ledger.add_batch(self.result.run_id, bad.batch_no, [(row.item_id, h) for row, h in self.unreadable])
        self.ledger.save_outcome(self.result.run_id, bad.batch_no, bad.to_json())
        self.unreadable.clear()
        return [bad]

    def land(self, outcomes: list[BatchOutcome]) -> None:
        """Write finished batches to the targets together (one dlt run costs ~0.3 s whatever its size), then mark
        their items in the ledger; a failed write leaves the batches committed, for a resume to land."""
        from etlcrew.pipeline.targets import land_records

        outcomes = [*outcomes, *self._commit_unreadable()]
        records = [r for o in outcomes for r in o.records]
        quarantined = [q for o in outcomes for q in o.quarantined]
        review = [r for o in outcomes for r in o.review]
        written = land_records(self.options.crew, self.schema, list(self.spec.targets), records, quarantined,
                               self.result.run_id, self.settings, review=review)
        failpoints.hit("mid-load")
        if not written.ok:  # the batches stay committed as done: a resume lands them again
            for error in written.errors[1:] if not self.land_errors else written.errors:
                console.warn(f"target {error}")  # the first is the run's error message
            self.land_errors.extend(written.errors)
            self.land_causes.append(written.cause)
            self.control.request_stop("failed")
            return
        self._out_of_review([r["item_id"] for r in records] + [q.item_id for q in quarantined])
        pop = self.hashes.pop
        states = [(r["item_id"], pop(r["item_id"], ""), "loaded", None) for r in records]
        states += [(q.item_id, pop(q.item_id, ""), "quarantined", q.reason) for q in quarantined]
        states += [(r.item_id, pop(r.item_id, ""), "review", r.reason) for r in review]
        self.ledger.record_items(self.options.crew, self.result.run_id, self.config_hash, states)
        self.journal.landed([o.batch_no for o in outcomes])
        failpoints.hit("landed")
        for key, rows in (("loaded", records), ("quarantined", quarantined), ("review", review)):
            self.landed_now[key] += len(rows)
        totals = {key: self.landed_now[key] + self.landed_before[key] for key in self.landed_now}
        self.journal.emit("landed", detail=totals | {"skipped": self.result.items.skipped,
                                                     "batches": [o.batch_no for o in outcomes]})

    def _out_of_review(self, item_ids: list[str]) -> None:
        """Items held before and loaded or quarantined now (``--retry-review``, changed content) leave
        ``<table>__review``."""
        from etlcrew.ledger.reviews import held_among
        from etlcrew.pipeline.targets.review_rows import remove_from_review

        held = held_among(self.ledger, self.options.crew, item_ids)
        if held:
            try:
                remove_from_review(self.options.crew, self.schema, list(self.spec.targets), held, self.settings)
            except Exception as exc:  # the records are loaded; a stale review row is no reason to fail the run
                console.warn(f"could not take {len(held)} loaded items out of the review table: {exc}")

    # -- finish -------------------------------------------------------------------------------------------------

    def finish(self, budget_stop: str | None) -> None:
        """Counts from the ledger (with what a resumed run landed before), the error, else outcome and report."""
        from etlcrew.pipeline.finish import deliver
        from etlcrew.pipeline.outcome import run_outcome

        outcomes = self.journal.landed_outcomes()  # read once: with 10k items it is every record of the run
        result = self.result
        result.items.loaded = sum(len(o.records) for o in outcomes)
        result.items.quarantined = sum(len(o.quarantined) for o in outcomes)
        result.items.review = sum(len(o.review) for o in outcomes)
        if self.fatal:
            raise self.fatal[0]
        if self.land_errors:
            cause = self.land_causes[0]
            raise EtlcrewError(f"target {self.land_errors[0]}", hint=resume_hint(result.run_id)) from cause
        if self.control.stop_reason == "interrupted":
            stopped = RunTerminated if self.control.signal_name == "SIGTERM" else RunInterrupted
            raise stopped(f"{stopped.word}: finished work is committed", hint=resume_hint(result.run_id))
        deliver(self.settings, self.spec, self.ledger, outcomes, result, self.runner.phase_of,
                run_outcome(self, outcomes))  # the run's one digest: code's when the budget is spent
        if budget_stop:  # what landed is reported and listed; the rest is pending, for ``resume``
            result.status = "stopped"
            result.error = (f"{budget_message(budget_stop, self.control.spent(), self.control.budget)}; "
                            f"{result.items.pending} items pending, continue with: "
                            f"{budget_resume_command(result.run_id, self.control.budget)}")
