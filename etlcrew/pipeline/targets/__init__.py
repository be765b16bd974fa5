"""Load: validated records into the crew's targets, idempotently (merge on the primary key everywhere).

``land_records`` handles database (dlt) and file targets. Report, webhook and notify targets need more than
records (counts and digest; the ledger's outbox), so the run's end calls ``pipeline.report.write_report`` and
``pipeline.outbox.deliver`` for those; ``land_records`` passes over them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from etlcrew.pipeline.records import QuarantineRow
from etlcrew.pipeline.review import ReviewRow
from etlcrew.pipeline.targets.conditions import ConditionError, parse_condition
from etlcrew.pipeline.targets.database import (
    column_hints,
    database_path,
    dataset_of,
    load_database,
    quarantine_dicts,
    quarantine_table,
    sqlite_files,
)
from etlcrew.pipeline.targets.files import file_path, load_file, sibling_quarantine_path
from etlcrew.pipeline.targets.store_errors import describe_store_error
from etlcrew.pipeline.targets.webhook import WebhookResult, idempotency_key, post_webhooks
from etlcrew.settings import Settings
from etlcrew.specs.datapath import DatabaseTarget, FileTarget, SchemaSpec

__all__ = [
    "ConditionError", "LandResult", "TargetLanding", "WebhookResult", "column_hints", "database_path",
    "dedupe_by_key", "describe_target", "file_path", "idempotency_key", "land_records", "parse_condition",
    "post_webhooks", "quarantine_table", "written_files",
]


@dataclass(frozen=True)
class TargetLanding:
    """One target's outcome: where it wrote, how many rows it was given, or the error that stopped it."""

    target: str
    location: str | None
    rows: int
    quarantined: int
    error: str | None = None
    cause: BaseException | None = field(default=None, repr=False, compare=False)  # the full chain, for --debug


@dataclass
class LandResult:
    """Every target's outcome; a failed target does not stop the others, and re-running repeats nothing."""

    landings: list[TargetLanding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(landing.error is None for landing in self.landings)

    @property
    def errors(self) -> list[str]:
        return [f"{landing.target}: {landing.error}" for landing in self.landings if landing.error]

    @property
    def cause(self) -> BaseException | None:
        """The first failed target's exception (dlt's whole chain), shown by ``--debug``."""
        return next((landing.cause for landing in self.landings if landing.cause is not None), None)


def dedupe_by_key(records: list[dict[str, Any]], key: list[str]) -> list[dict[str, Any]]:
    """One record per primary key, the last one winning, in first-seen order."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for record in records:
        out[tuple(repr(record.get(k)) for k in key)] = record
    return list(out.values())


def land_records(crew: str, schema: SchemaSpec, targets: list[Any], records: list[dict[str, Any]],
                 quarantined: list[QuarantineRow], run_id: str, settings: Settings,
                 now: dt.datetime | None = None, review: list[ReviewRow] | None = None) -> LandResult:
    """Merge ``records`` (JSON-safe, from ``validate_batch``) and quarantined items into each database/file target.

    Each row gets ``_run_id`` and ``_loaded_at``; quarantined items go to ``<table>__quarantine``
    (``<file>__quarantine.<ext>`` for files), records held for review to ``<table>__review`` with their
    ``review_reason``. Errors are caught per target and reported in the result.
    """
    at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    rows = [dict(r) | {"_run_id": run_id, "_loaded_at": at}
            for r in dedupe_by_key(records, list(schema.primary_key))]
    quarantine = quarantine_dicts(quarantined, run_id, at)
    held = [dict(r.record) | {"review_reason": r.reason, "_run_id": run_id, "_loaded_at": at} for r in review or []]
    result = LandResult()
    for target in targets:
        name = describe_target(target, crew, settings)
        try:
            if isinstance(target, DatabaseTarget):
                location = load_database(target, crew, schema, rows, quarantine, settings, held)
            elif isinstance(target, FileTarget):
                location = load_file(target, crew, schema, rows, quarantine, settings, held)
            else:
                continue
        except Exception as exc:  # one broken target must not hide the others' outcome
            result.landings.append(TargetLanding(name, None, 0, 0, describe_store_error(exc), exc))
            continue
        result.landings.append(TargetLanding(name, location, len(rows), len(quarantine)))
    return result


def describe_target(target: Any, crew: str, settings: Settings) -> str:
    """A target as messages name it: ``duckdb output/x.duckdb``, ``jsonl output/x.jsonl``, ``dlt:postgres``."""
    if isinstance(target, DatabaseTarget) and target.type == "dlt":
        return f"dlt:{target.destination}"
    if isinstance(target, DatabaseTarget):
        return f"{target.type} {database_path(target, crew, settings)}"
    if isinstance(target, FileTarget):
        return f"{target.type} {file_path(target, crew, settings)}"
    return f"{target.type}:{target.path}" if getattr(target, "path", None) else str(target.type)


def written_files(target: Any, crew: str, settings: Settings) -> list[str]:
    """Every file a database or file target holds the crew's rows in (with the quarantine and review siblings
    that exist): what a run lists as its outputs. A non-file dlt destination is named ``dlt:<name>:<dataset>``."""
    if isinstance(target, DatabaseTarget) and target.type == "dlt" and not target.path:
        return [f"dlt:{target.destination}:{target.dataset}"]
    if isinstance(target, DatabaseTarget):
        path = database_path(target, crew, settings)
        if target.type == "sqlite":
            return [str(p) for p in sqlite_files(path, dataset_of(target))]
        return [str(path)]
    if isinstance(target, FileTarget):
        path = file_path(target, crew, settings)
        siblings = [sibling_quarantine_path(path), path.with_name(f"{path.stem}__review{path.suffix}")]
        return [str(path), *(str(p) for p in siblings if p.exists())]
    return []
