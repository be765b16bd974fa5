"""The end of a run with sources: the report and the action targets, from every outcome the run landed and the
run's one digest and action list (``pipeline.outcome``).

They come from the ledger, after every batch is landed, so a resumed run reports and notifies about each record
exactly once; webhook and notify deliveries go through the ledger's outbox (``pipeline.outbox``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.pipeline import failpoints

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.pipeline.journal import BatchOutcome
    from etlcrew.pipeline.outcome import RunOutcome
    from etlcrew.pipeline.run_result import RunResult
    from etlcrew.settings import Settings


def _deliver_actions(settings: Settings, crew: str, spec: Any, ledger: Ledger, outcomes: list[BatchOutcome],
                     run_id: str, action_item_ids: list[str]) -> None:
    """The webhook and notify targets, through the outbox, for the run's action items (those landed: an item held
    for review is delivered by no target until a person lands it)."""
    from etlcrew.pipeline.outbox import deliver as deliver_actions

    records_by_id = {str(r.get("item_id")): r for o in outcomes for r in o.records}
    report = deliver_actions(settings, crew, spec, ledger, run_id, records_by_id, action_item_ids)
    for target in report.targets:
        if target.failed or target.given_up:
            given_up = f", {target.given_up} given up" if target.given_up else ""
            console.warn(f"{target.target}: {target.failed + target.given_up} deliveries failed{given_up} "
                         f"(first: {target.errors[0]}); the next run or resume tries the failed ones again")


def _notify_files(settings: Settings, crew: str, spec: Any) -> list[str]:
    """The files the notify targets append to, once they exist."""
    from etlcrew.pipeline.targets.notify import notify_path

    paths = [notify_path(t, crew, settings) for t in spec.targets if t.type == "notify" and not t.tool]
    return [str(p) for p in paths if p.exists()]


def deliver(settings: Settings, spec: Any, ledger: Ledger, outcomes: list[BatchOutcome], result: RunResult,
            phase_of: dict[str, str], outcome: RunOutcome) -> None:
    """Write the report, deliver the action targets, list the outputs and the outcome, set the final status."""
    from etlcrew.pipeline.report import report_path, write_report
    from etlcrew.pipeline.targets import written_files

    schema, crew = spec.output_schema, result.crew
    result.outcome = outcome.as_dict()
    records = [r for o in outcomes for r in o.records]
    quarantined = [q for o in outcomes for q in o.quarantined]
    review = [r for o in outcomes for r in o.review]
    outputs: list[str] = []
    for target in spec.targets:
        if target.type in ("duckdb", "sqlite", "dlt", "jsonl", "parquet"):
            outputs += written_files(target, crew, settings)
        elif target.type == "report":
            path = report_path(target, crew, settings)
            if not outcomes and result.items.skipped and path.exists():
                console.info(f"nothing changed since the last run: the report {path.name} is left as it was")
            else:
                from etlcrew.ledger.reviews import review_counts

                counts = result.items.as_dict() | review_counts(ledger, crew)
                path = write_report(path, crew, result.run_id, counts, records, schema,
                                    outcome.digest, quarantined, outcome=outcome,
                                    calls_by_phase=ledger.calls_by_phase(result.run_id, phase_of), review=review)
            outputs += [str(p) for p in (path, path.with_suffix(".svg")) if p.exists()]  # the report, its chart
    _deliver_actions(settings, crew, spec, ledger, outcomes, result.run_id, outcome.action_item_ids)
    outputs += _notify_files(settings, crew, spec)
    failpoints.hit("finish")
    result.outputs = outputs
    result.status = "partial" if result.items.quarantined or result.items.review else "succeeded"
