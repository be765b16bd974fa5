"""The end of a run with sources: the report and the webhooks, from every outcome the run landed and the run's
one digest and action list (``pipeline.outcome``).

They come from the ledger, after every batch is landed, so a resumed run reports and notifies about each record
exactly once; each webhook delivery is kept in the ledger.
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


def deliver(settings: Settings, spec: Any, ledger: Ledger, outcomes: list[BatchOutcome], result: RunResult,
            phase_of: dict[str, str], outcome: RunOutcome) -> None:
    """Write the report, post the webhooks, list the outputs, the outcome and set the final status."""
    from etlcrew.pipeline.report import report_path, write_report
    from etlcrew.pipeline.targets import post_webhooks, written_files

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
                path = write_report(path, crew, result.run_id, result.items.as_dict(), records, schema,
                                    outcome.digest, quarantined, outcome=outcome,
                                    calls_by_phase=ledger.calls_by_phase(result.run_id, phase_of), review=review)
            outputs += [str(p) for p in (path, path.with_suffix(".svg")) if p.exists()]  # the report, its chart
        elif target.type == "webhook" and target.enabled:
            def sent(key: str, item_id: str, url: str = target.url) -> None:
                ledger.record_delivery(key, result.run_id, url, item_id)
                failpoints.hit("webhook")

            results = post_webhooks(target, records, result.run_id, ledger.delivered, crew=crew,
                                    table=schema.table, on_sent=sent)
            failed = [r for r in results if r.outcome == "failed"]
            if failed:
                console.warn(f"webhook {target.url}: {len(failed)} deliveries failed")
    failpoints.hit("finish")
    result.outputs = outputs
    result.status = "partial" if result.items.quarantined or result.items.review else "succeeded"
