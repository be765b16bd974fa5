"""A crew's targets, checked before any model call or ledger write, and rebuilt by ``--full-refresh``.

What a load would otherwise find only after every model call was spent:

- a ``dlt`` destination whose package is not installed, or whose credentials are not set (exit 2, with the pip
  command or the variable to set);
- a schema that no longer fits the tables already loaded: a field whose type changed, a changed primary key,
  or a NOT NULL column (made by an earlier version) for a field that is now optional or gone (exit 2, naming the
  field and the command that rebuilds the table). A new field needs nothing: it becomes a new nullable column
  and the rows loaded before it stay empty there;
- a DuckDB file another process holds open (exit 1, naming the process; checked by ``run`` only);
- a webhook or notify target's ``when``, tool or file that cannot work (``targets.action_checks``).

The tables' shape is read from dlt's own stored schema (``<state_dir>/dlt/<pipeline>/schemas``), which dlt
keeps in step with the destination; a target never loaded has nothing to check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etlcrew import invocation
from etlcrew.errors import ConfigError, ConfigProblem, EtlcrewError
from etlcrew.invocation import install_hint
from etlcrew.pipeline.targets.action_checks import action_problems
from etlcrew.pipeline.targets.database import (
    column_hints,
    database_path,
    dlt_pipeline,
    pipeline_name,
    quarantine_table,
    review_table,
)
from etlcrew.pipeline.targets.files import file_path, sibling_quarantine_path
from etlcrew.pipeline.targets.store_errors import describe_store_error
from etlcrew.settings import Settings
from etlcrew.specs.datapath import DatabaseTarget, FileTarget, SchemaSpec
from etlcrew.specs.project import ProjectSpec

# dlt destinations with an install extra of ours; any other is installed as dlt's own extra
EXTRAS = {"postgres": "postgres"}
OUR_TYPES = {"text": "string or enum", "bigint": "integer", "double": "number", "bool": "boolean", "date": "date",
             "timestamp": "datetime", "json": "list"}
RUN_COLUMNS = {"item_id", "_run_id", "_loaded_at", "review_reason"}


def check_targets(settings: Settings, project: ProjectSpec, crew: str, full_refresh: bool = False) -> None:
    """Every problem of the crew's database targets at once, as ``ConfigError`` (exit 2); nothing is written."""
    spec = project.crews[crew]
    file = project.file_of("crews")
    problems: list[ConfigProblem] = []
    for target in spec.targets:
        if not isinstance(target, DatabaseTarget):
            continue
        found = destination_problems(target, crew, file) if target.type == "dlt" else []
        if not found and not full_refresh and spec.output_schema is not None:
            found = schema_problems(target, crew, spec.output_schema, settings, file)
        problems += found
    if not full_refresh:
        problems += parquet_problems(settings, project, crew)
    problems += action_problems(settings, project, crew)
    if problems:
        raise ConfigError(problems)


def destination_problems(target: DatabaseTarget, crew: str, file: str) -> list[ConfigProblem]:
    """A ``dlt`` target's destination: known to dlt, its package installed, its credentials set."""
    name = target.destination
    where = f"crew '{crew}', target dlt"
    if not name:
        return [ConfigProblem(file, f"{where} needs 'destination'", entry=crew, key="destination",
                              hint="e.g. destination: postgres")]
    from etlcrew.pipeline.targets.database import disable_dlt_telemetry

    disable_dlt_telemetry()
    from dlt.common.destination import Destination

    try:
        destination = Destination.from_reference(name)
    except Exception:  # dlt raises its own UnknownDestinationModule (or an ImportError for a dotted path)
        return [ConfigProblem(file, f"{where}: '{name}' is not a dlt destination", entry=crew, key="destination",
                              hint="use a dlt destination name, e.g. postgres, duckdb, bigquery, snowflake")]
    try:
        destination.client_class  # noqa: B018 - imports the destination's driver package
    except ImportError as exc:
        extra = EXTRAS.get(name)
        command = install_hint(extra) if extra else f'pip install "dlt[{name}]"'
        return [ConfigProblem(file, f"{where}: destination '{name}' needs a package that is not installed "
                              f"({getattr(exc, 'name', None) or exc})", entry=crew, key="destination",
                              hint=f"install it: {command}")]
    return _credential_problems(destination, target, where, file, crew)


def _credential_problems(destination: Any, target: DatabaseTarget, where: str, file: str,
                         crew: str) -> list[ConfigProblem]:
    """dlt resolves credentials from the environment (``.env`` included) and ``.dlt/secrets.toml``, never YAML."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    config = destination.spec()
    config.dataset_name = target.dataset
    try:
        destination.configuration(config, accept_partial=False)
    except ConfigFieldMissingException as exc:
        name = target.destination or ""
        missing = ", ".join(sorted(exc.fields)) or "credentials"
        variable = f"DESTINATION__{name.upper()}__CREDENTIALS"
        example = " (e.g. postgresql://user:password@host:5432/database)" if name == "postgres" else ""
        return [ConfigProblem(file, f"{where}: destination '{name}' has no credentials (missing: {missing})",
                              entry=crew, key="destination",
                              hint=f"set {variable} in .env or the environment{example}, or put them in "
                                   ".dlt/secrets.toml; credentials never go in the YAML")]
    return []


def _stored_tables(target: DatabaseTarget, crew: str, settings: Settings) -> dict[str, Any]:
    """dlt's stored schema of the target's tables, or nothing when the target was never loaded."""
    if not (settings.state_dir / "dlt" / pipeline_name(target, crew, settings)).is_dir():
        return {}
    pipeline = dlt_pipeline(target, crew, settings)
    if not pipeline.default_schema_name:
        return {}
    return dict(pipeline.default_schema.tables)


def schema_problems(target: DatabaseTarget, crew: str, schema: SchemaSpec, settings: Settings,
                    file: str) -> list[ConfigProblem]:
    """Changes the loaded tables cannot take: a field's type, the primary key, a NOT NULL column now optional."""
    tables = _stored_tables(target, crew, settings)
    store = database_path(target, crew, settings) or f"{target.destination}:{target.dataset}"
    rebuild = (f"rebuild the table with: {invocation.command('run', crew, '--full-refresh')}, which processes every "
               "item again")
    hints = column_hints(schema)
    problems = []
    for table in (schema.table, review_table(schema.table)):
        columns = tables.get(table, {}).get("columns", {})
        for name, column in columns.items():
            if name.startswith("_dlt") or name in RUN_COLUMNS:
                continue
            spec = schema.fields.get(name)
            stored, wanted = column.get("data_type"), hints.get(name, {}).get("data_type")
            if spec is not None and stored and wanted and stored != wanted:
                problems.append(ConfigProblem(
                    file, f"crew '{crew}': the type of field '{name}' changed: table '{table}' in {store} holds "
                    f"it as {OUR_TYPES.get(stored, stored)}, the schema now says {spec.type}", entry=crew,
                    key=f"schema.fields.{name}.type", hint=f"change it back, or {rebuild}"))
            elif column.get("nullable") is False and not column.get("primary_key") and (
                    spec is None or not spec.required):
                problems.append(ConfigProblem(
                    file, f"crew '{crew}': table '{table}' in {store} has '{name}' as a NOT NULL column (made by "
                    "an earlier version), so it cannot take records without it", entry=crew,
                    key=f"schema.fields.{name}", hint=f"make it required again, or {rebuild}"))
        keys = sorted(n for n, c in columns.items() if c.get("primary_key"))
        if keys and keys != sorted(schema.primary_key):
            problems.append(ConfigProblem(
                file, f"crew '{crew}': the primary key changed: table '{table}' in {store} is keyed on "
                f"{', '.join(keys)}, the schema now says {', '.join(schema.primary_key)}", entry=crew,
                key="schema.primary_key", hint=f"change it back, or {rebuild}"))
    return _unique(problems)


def _unique(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """The records table and its review table report the same change once."""
    seen: set[tuple[str | None, str | None]] = set()
    out = []
    for problem in problems:
        if (problem.key, problem.hint) not in seen:
            seen.add((problem.key, problem.hint))
            out.append(problem)
    return out


def check_stores_open(settings: Settings, project: ProjectSpec, crew: str) -> None:
    """A DuckDB file that another process holds open stops the run here, before any model call (exit 1)."""
    for target in project.crews[crew].targets:
        if isinstance(target, DatabaseTarget) and target.type == "duckdb":
            path = database_path(target, crew, settings)
            if path is None or not path.exists():
                continue
            import duckdb

            try:
                duckdb.connect(str(path)).close()
            except duckdb.Error as exc:
                raise EtlcrewError(f"target duckdb {path}: {describe_store_error(exc)}",
                                   hint="close the program that has it open, then run again; nothing was "
                                        "started") from exc


def refresh_targets(settings: Settings, project: ProjectSpec, crew: str) -> None:
    """``--full-refresh``: drop the crew's tables (dlt's ``refresh="drop_resources"``, which also resets their
    stored schema) and delete its JSONL/Parquet files, so the run rebuilds them under the current schema."""
    spec = project.crews[crew]
    schema = spec.output_schema
    if schema is None:
        return
    for target in spec.targets:
        if isinstance(target, DatabaseTarget):
            _drop_tables(target, crew, schema, settings)
        elif isinstance(target, FileTarget):
            path = file_path(target, crew, settings)
            for old in (path, sibling_quarantine_path(path), path.with_name(f"{path.stem}__review{path.suffix}")):
                old.unlink(missing_ok=True)


def _drop_tables(target: DatabaseTarget, crew: str, schema: SchemaSpec, settings: Settings) -> None:
    if not _stored_tables(target, crew, settings):
        return  # never loaded here: nothing to drop
    import dlt

    pipeline = dlt_pipeline(target, crew, settings)
    if pipeline.has_pending_data:
        pipeline.drop_pending_packages()
    names = (schema.table, quarantine_table(schema.table), review_table(schema.table))
    pipeline.run([dlt.resource([], name=name) for name in names], refresh="drop_resources")


def parquet_problems(settings: Settings, project: ProjectSpec, crew: str) -> list[ConfigProblem]:
    """A Parquet target whose file holds a field under another type than the schema now gives it."""
    spec = project.crews[crew]
    if spec.output_schema is None:
        return []
    problems = []
    for target in spec.targets:
        if isinstance(target, FileTarget) and target.type == "parquet":
            path = file_path(target, crew, settings)
            problems += _parquet_file_problems(path, spec.output_schema, crew, project.file_of("crews"))
    return problems


def _parquet_file_problems(path: Path, schema: SchemaSpec, crew: str, file: str) -> list[ConfigProblem]:
    if not path.exists():
        return []
    import pyarrow.parquet as pq

    from etlcrew.pipeline.targets.files import arrow_schema

    stored = pq.read_schema(path)
    wanted = arrow_schema(schema, [n for n in schema.fields if n in stored.names])
    rebuild = (f"rebuild the table with: {invocation.command('run', crew, '--full-refresh')}, which processes every "
               "item again")
    return [ConfigProblem(file, f"crew '{crew}': the type of field '{f.name}' changed: {path} holds it as "
                          f"{stored.field(f.name).type}, the schema now says {schema.fields[f.name].type}",
                          entry=crew, key=f"schema.fields.{f.name}.type", hint=f"change it back, or {rebuild}")
            for f in wanted if not stored.field(f.name).type.equals(f.type)]

