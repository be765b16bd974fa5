"""Database targets through dlt: merge on the primary key, so loading the same records twice gives the same rows.

Choices: a list field is one ``json`` column (never a child table; ``max_table_nesting=0`` too), dates and
datetimes are parsed back from the records' ISO strings so the columns get real types, and dlt's working
directory lives in ``<state_dir>/dlt`` with telemetry off, its load packages removed once landed. SQLite goes
through dlt's ``sqlalchemy`` destination and, unless ``dataset`` is set, into the file's ``main`` schema so
``output/<crew>.sqlite`` holds the tables (dlt puts any other dataset in a sibling file
``<crew>__<dataset>.sqlite``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

from etlcrew.errors import ConfigError, ConfigProblem
from etlcrew.pipeline.records import QuarantineRow
from etlcrew.settings import Settings
from etlcrew.specs.datapath import DatabaseTarget, SchemaSpec

DLT_TYPES = {
    "string": "text", "enum": "text", "integer": "bigint", "number": "double", "boolean": "bool",
    "date": "date", "datetime": "timestamp", "list": "json",
}
QUARANTINE_COLUMNS = ("item_id", "source", "reason", "raw_input", "raw_model_output", "run_id", "quarantined_at")


def quarantine_table(table: str) -> str:
    """Where an item that produced no valid record is kept, next to the records table."""
    return f"{table}__quarantine"


def database_path(target: DatabaseTarget, crew: str, settings: Settings) -> Path | None:
    """The file a duckdb/sqlite target writes (``output/<crew>.<ext>`` by default); ``None`` for other dlt names."""
    if target.type == "dlt":
        return Path(target.path) if target.path else None
    if target.path:
        path = Path(target.path)
        return path if path.is_absolute() else settings.project_dir / path
    return settings.output_dir / f"{crew}.{'duckdb' if target.type == 'duckdb' else 'sqlite'}"


def column_hints(schema: SchemaSpec) -> dict[str, dict[str, Any]]:
    """dlt column hints from the schema: types and the primary key; run columns at the end.

    Every field column is nullable in the store, required or not: the records are validated before they are
    loaded, and a NOT NULL column could not be added to a table that already holds rows (a new field leaves the
    earlier rows empty) nor dropped from the schema later.
    """
    hints: dict[str, dict[str, Any]] = {"item_id": {"data_type": "text", "nullable": False}}
    for name, spec in schema.fields.items():
        if name != "item_id":
            hints[name] = {"data_type": DLT_TYPES[spec.type], "nullable": True}
    for key in schema.primary_key:
        hints[key] = hints[key] | {"primary_key": True, "nullable": False}
    hints["_run_id"] = {"data_type": "text", "nullable": False}
    hints["_loaded_at"] = {"data_type": "timestamp", "nullable": False}
    return hints


def _quarantine_hints() -> dict[str, dict[str, Any]]:
    hints: dict[str, dict[str, Any]] = {name: {"data_type": "text", "nullable": True} for name in QUARANTINE_COLUMNS}
    hints["item_id"] = {"data_type": "text", "nullable": False, "primary_key": True}
    hints["quarantined_at"] = {"data_type": "timestamp", "nullable": False}
    return hints


def typed_row(record: dict[str, Any], schema: SchemaSpec) -> dict[str, Any]:
    """A JSON-safe record with date/datetime strings turned back into Python values for typed columns."""
    row = dict(record)
    for name, spec in schema.fields.items():
        value = row.get(name)
        if isinstance(value, str) and spec.type == "date":
            row[name] = dt.date.fromisoformat(value)
        elif isinstance(value, str) and spec.type == "datetime":
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            row[name] = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return row


def _destination(target: DatabaseTarget, crew: str, settings: Settings) -> Any:
    import dlt

    path = database_path(target, crew, settings)
    if target.type == "duckdb":
        path.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(credentials=str(path))
    if target.type == "sqlite":
        path.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.sqlalchemy(credentials=f"sqlite:///{path}")
    if not target.destination:
        raise ConfigError([ConfigProblem("config/crews.yaml", "a 'dlt' target needs 'destination'",
                                         key="destination", hint="e.g. destination: postgres")])
    return target.destination


def dataset_of(target: DatabaseTarget) -> str:
    """The dataset the tables go to (a sqlite file's own ``main`` schema unless ``dataset`` is set)."""
    if target.type == "sqlite" and "dataset" not in target.model_fields_set:
        return "main"
    return target.dataset


def disable_dlt_telemetry() -> None:
    """dlt phones home unless told not to, and logs every retried load job with its traceback on stderr; a
    failed load is reported once by us instead (``store_errors``). An explicit user setting still wins."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")


def review_table(table: str) -> str:
    """Where valid records a person should check before use are kept, next to the records table."""
    return f"{table}__review"


def pipeline_name(target: DatabaseTarget, crew: str, settings: Settings) -> str:
    """dlt's name for the target's pipeline; its working files (state, stored schema) are in
    ``<state_dir>/dlt/<name>``."""
    where = f"{target.type}:{database_path(target, crew, settings) or target.destination}:{dataset_of(target)}"
    return f"etlcrew_{crew}_{target.type}_{hashlib.sha256(where.encode()).hexdigest()[:10]}"


def dlt_pipeline(target: DatabaseTarget, crew: str, settings: Settings) -> Any:
    """The dlt pipeline of one crew's database target: one per destination and dataset, its working files under
    ``<state_dir>/dlt``."""
    disable_dlt_telemetry()
    import dlt

    return dlt.pipeline(
        pipeline_name=pipeline_name(target, crew, settings),
        pipelines_dir=str(settings.state_dir / "dlt"),
        destination=_destination(target, crew, settings),
        dataset_name=dataset_of(target),
    )


def table_names(schema: SchemaSpec) -> list[str]:
    """The tables a crew's database target holds: records, quarantine, review."""
    return [schema.table, quarantine_table(schema.table), review_table(schema.table)]


def load_database(target: DatabaseTarget, crew: str, schema: SchemaSpec, rows: list[dict[str, Any]],
                  quarantine: list[dict[str, Any]], settings: Settings, review: list[dict[str, Any]] | None = None
                  ) -> str:
    """Merge the rows (and the quarantine and review rows) into the target; returns where they went.

    A load package left pending by a failed or killed load is dropped first: the ledger keeps every batch until
    it has landed, so the rows are in ``rows`` again, and dlt would otherwise load the stale package instead.
    """
    import dlt

    pipeline = dlt_pipeline(target, crew, settings)
    if pipeline.has_pending_data:
        pipeline.drop_pending_packages()
    resources = []
    if rows:
        resources.append(dlt.resource(
            [typed_row(r, schema) for r in rows], name=schema.table, write_disposition="merge",
            primary_key=list(schema.primary_key), columns=column_hints(schema), max_table_nesting=0))
    if quarantine:
        resources.append(dlt.resource(
            quarantine, name=quarantine_table(schema.table), write_disposition="merge",
            primary_key=["item_id"], columns=_quarantine_hints(), max_table_nesting=0))
    if review:
        hints = column_hints(schema) | {"review_reason": {"data_type": "text", "nullable": False}}
        resources.append(dlt.resource(
            [typed_row(r, schema) for r in review], name=review_table(schema.table), write_disposition="merge",
            primary_key=list(schema.primary_key), columns=hints, max_table_nesting=0))
    if resources:
        with warnings.catch_warnings():  # dlt's sqlalchemy merge SQL triggers a harmless SQLAlchemy warning
            warnings.filterwarnings("ignore", message="implicitly coercing SELECT")
            try:
                pipeline.run(resources)
            except Exception:  # the ledger keeps the batch until it lands: the package's copy is not needed
                with contextlib.suppress(Exception):
                    pipeline.drop_pending_packages()
                raise
        remove_loaded_packages(pipeline)
    path = database_path(target, crew, settings)
    if target.type == "sqlite":
        remove_sqlite_staging(path, dataset_of(target))
    return str(path) if path else f"{target.destination}:{target.dataset}"


def remove_loaded_packages(pipeline: Any) -> None:
    """dlt keeps every landed load package (``<working dir>/load/loaded/<load id>``, the rows as SQL or parquet,
    quarantined raw text included) forever; once the rows are in the target, those copies are only a leak, so
    they go (earlier runs' too). The target and the ledger hold what a resume or a reader needs."""
    import shutil

    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    if loaded.is_dir():
        for package in loaded.iterdir():
            shutil.rmtree(package) if package.is_dir() else package.unlink()


def sqlite_files(path: Path, dataset: str) -> list[Path]:
    """The files a sqlite target's tables are in: the database, and dlt's sibling file for a dataset other
    than ``main`` (SQLite keeps each attached schema in its own file)."""
    return [path] if dataset == "main" else [path, path.with_name(f"{path.stem}__{dataset}{path.suffix}")]


def remove_sqlite_staging(path: Path, dataset: str) -> None:
    """dlt merges through a staging dataset, which SQLite keeps in a sibling file (``<db>__main_staging.sqlite``)
    that only holds the last load's copies: removed once the load is done, so nothing is left beside the
    database."""
    staging = path.with_name(f"{path.stem}__{dataset}_staging{path.suffix}")
    for leftover in (staging, *(staging.with_name(staging.name + end) for end in ("-wal", "-shm", "-journal"))):
        leftover.unlink(missing_ok=True)


def quarantine_dicts(rows: list[QuarantineRow], run_id: str, at: dt.datetime) -> list[dict[str, Any]]:
    """Quarantine rows as table rows, one per item_id (the last wins)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out[row.item_id] = {"item_id": row.item_id, "source": row.source, "reason": row.reason,
                            "raw_input": row.raw_input, "raw_model_output": row.raw_model_output,
                            "run_id": run_id, "quarantined_at": at}
    return list(out.values())
