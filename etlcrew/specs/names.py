"""Names that become file names, tables and columns: safe as written, or refused with the name to use instead.

A crew's name is part of output paths (``output/<crew>.duckdb``), so ``../x`` would write outside the project.
Datasets, tables and fields are stored by dlt, whose ``snake_case`` naming rewrites what it cannot store
(``kundenname_ü`` became ``kundennamexx``, ``dataset: Tickets-Prod`` became ``tickets_prod``): a name is accepted
only when that rewriting leaves it unchanged, which is exactly ``STORABLE`` (checked against dlt's own naming
convention in tests). Only a name that fails it costs importing dlt's naming convention (~1 s), which says what
the store would have made of it; crewai is never imported.
"""

from __future__ import annotations

import re
import unicodedata

from etlcrew.errors import ConfigProblem
from etlcrew.specs.project import ProjectSpec

CREW_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
SOURCE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# lower-case ASCII letters, digits and single underscores; not starting with a digit, not ending with "_"
STORABLE = re.compile(r"^(?!.*__)(?!.*_$)[a-z_][a-z0-9_]{0,62}$")
# columns every row of a crew's table (or its __review twin) gets from the product (pipeline.targets)
PRODUCT_COLUMNS = frozenset({"item_id", "_run_id", "_loaded_at", "review_reason"})
RESERVED_TABLE_SUFFIXES = ("__review", "__quarantine")


def identifier_for(name: str, taken: set[str] = frozenset(), fallback: str = "field") -> str:  # type: ignore[assignment]
    """A storable name close to ``name``: accents dropped (ü -> u), camelCase and other characters to ``_``."""
    ascii_text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", ascii_text).lower()
    text = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", text)).strip("_")
    if not text:
        text = fallback
    if text[0].isdigit():
        text = f"{fallback}_{text}"
    candidate, n = text[:63], 2
    while candidate in taken or candidate in PRODUCT_COLUMNS or candidate.startswith("_dlt"):
        candidate, n = f"{text[:60]}_{n}", n + 1
    return candidate


def check_names(spec: ProjectSpec) -> list[ConfigProblem]:
    """Every crew, source, table and field name that is unsafe, renamed on storage, or taken by the product."""
    problems: list[ConfigProblem] = []
    file = spec.file_of("crews")
    doc = spec.documents.get("crews")

    def line(*path: object) -> int | None:
        return doc.line_of(path) if doc else None

    raw = doc.data if doc and isinstance(doc.data, dict) else {}
    for name in map(str, raw):
        if not CREW_NAME.match(name):
            guess = identifier_for(name, set(raw), "crew")
            problems.append(ConfigProblem(
                file, f"crew name '{name}' is not a safe name (it becomes part of file names)", line(name), name,
                None, f"rename it to '{guess}': letters, digits, '_' and '-', starting with a letter"))
    for name, crew in spec.crews.items():
        problems += _source_names(file, name, [s.name for s in crew.sources], line)
        problems += _dataset_names(file, name, crew.targets, line)
        if crew.output_schema is not None:
            problems += _schema_names(file, name, crew.output_schema, line)
    return problems


def _source_names(file: str, crew: str, names: list[str], line) -> list[ConfigProblem]:  # type: ignore[no-untyped-def]
    problems, seen = [], set()
    for i, name in enumerate(names):
        if not SOURCE_NAME.match(name):
            problems.append(ConfigProblem(
                file, f"crew '{crew}': source name '{name}' is not a safe name", line(crew, "sources", i, "name"),
                crew, f"sources.{i}.name", f"rename it to '{identifier_for(name, set(names), 'source')}'"))
        elif name in seen:
            problems.append(ConfigProblem(
                file, f"crew '{crew}': two sources are named '{name}'", line(crew, "sources", i, "name"), crew,
                f"sources.{i}.name", f"rename one, e.g. to '{identifier_for(name, set(names), 'source')}'"))
        seen.add(name)
    return problems


def _dataset_names(file: str, crew: str, targets: list[object], line) -> list[ConfigProblem]:  # type: ignore[no-untyped-def]
    """A database target's ``dataset`` (a schema in DuckDB, a file or schema elsewhere) as the store names it."""
    problems = []
    for i, target in enumerate(targets):
        dataset = getattr(target, "dataset", None)
        if getattr(target, "type", None) not in ("duckdb", "sqlite", "dlt") or dataset is None:
            continue
        if not STORABLE.match(dataset):
            problems.append(ConfigProblem(
                file, f"crew '{crew}': dataset '{dataset}' would be stored as '{_stored_as(dataset)}', not as "
                f"written", line(crew, "targets", i, "dataset"), crew, f"targets.{i}.dataset",
                f"use '{identifier_for(dataset, set(), 'dataset')}': lower-case letters, digits and single "
                "underscores"))
    return problems


def _schema_names(file: str, crew: str, schema, line) -> list[ConfigProblem]:  # type: ignore[no-untyped-def]
    problems: list[ConfigProblem] = []
    table = schema.table
    table_problem = None
    if table.startswith("_dlt") or table.endswith(RESERVED_TABLE_SUFFIXES):
        table_problem = "is taken by the tables etlcrew and dlt keep beside it"
    elif not STORABLE.match(table):
        table_problem = f"would be stored as '{_stored_as(table)}', not as written"
    if table_problem:
        guess = identifier_for(table.removesuffix("__review").removesuffix("__quarantine").lstrip("_"), set(),
                               "records")
        problems.append(ConfigProblem(file, f"crew '{crew}': table name '{table}' {table_problem}",
                                      line(crew, "schema", "table"), crew, "schema.table",
                                      f"use '{guess}': lower-case letters, digits and single underscores"))
    fields = list(schema.fields)
    for name in fields:
        where = line(crew, "schema", "fields", name)
        if name == "item_id" and "item_id" in schema.primary_key:
            continue  # the key etlcrew fills itself: declaring it only documents it
        reason = None
        if name in PRODUCT_COLUMNS or name.startswith("_dlt"):
            reason = "is a column etlcrew or dlt adds to every row"
        elif not STORABLE.match(name):
            reason = f"would be stored as '{_stored_as(name)}', not as written"
        if reason:
            guess = identifier_for(name, set(fields))
            problems.append(ConfigProblem(file, f"crew '{crew}': field name '{name}' {reason}", where, crew,
                                          f"schema.fields.{name}", f"rename it to '{guess}'"))
    return problems


def _stored_as(name: str) -> str:
    """The name dlt's ``snake_case`` naming convention stores ``name`` under, asked of dlt itself (imported only
    here, for a name ``STORABLE`` refused)."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return str(NamingConvention().normalize_identifier(name))
