"""Rows leaving ``<table>__review`` once a person decided them (or a run loaded them after all).

Database targets delete through dlt's SQL client of the same pipeline the run loads with; file targets rewrite
their ``__review`` sibling without the rows, atomically. A table or file that does not exist holds nothing to
remove.
"""

from __future__ import annotations

import json
from typing import Any

from etlcrew.settings import Settings
from etlcrew.specs.datapath import DatabaseTarget, FileTarget, SchemaSpec


def remove_from_review(crew: str, schema: SchemaSpec, targets: list[Any], item_ids: list[str],
                       settings: Settings) -> None:
    """Delete these items' rows from every database and file target's review table or file."""
    if not item_ids:
        return
    for target in targets:
        if isinstance(target, DatabaseTarget):
            _from_database(target, crew, schema, item_ids, settings)
        elif isinstance(target, FileTarget):
            _from_file(target, crew, item_ids, settings)


def _from_database(target: DatabaseTarget, crew: str, schema: SchemaSpec, item_ids: list[str],
                   settings: Settings) -> None:
    from etlcrew.pipeline.targets.database import dlt_pipeline, review_table

    pipeline = dlt_pipeline(target, crew, settings)
    with pipeline.sql_client() as client:
        table = review_table(schema.table)
        if not client.has_dataset():
            return
        qualified = client.make_qualified_table_name(table)
        try:
            client.execute_sql(f"SELECT 1 FROM {qualified} WHERE 1=0")  # noqa: S608 (a quoted name)
        except Exception:  # never held anything: no table
            return
        marks = ", ".join(["%s"] * len(item_ids))
        client.execute_sql(f"DELETE FROM {qualified} WHERE item_id IN ({marks})", *item_ids)  # noqa: S608


def _from_file(target: FileTarget, crew: str, item_ids: list[str], settings: Settings) -> None:
    from etlcrew.pipeline.targets.files import _replace_atomically, file_path

    path = file_path(target, crew, settings)
    review = path.with_name(f"{path.stem}__review{path.suffix}")
    if not review.exists():
        return
    drop = set(item_ids)
    if target.type == "jsonl":
        rows = [json.loads(line) for line in review.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = [row for row in rows if row.get("item_id") not in drop]

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as fh:
                for row in kept:
                    fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = pq.read_table(review)
        kept_table = table.filter(pc.invert(pc.is_in(table["item_id"], value_set=pa.array(sorted(drop)))))

        def write(tmp: str) -> None:
            pq.write_table(kept_table, tmp)
    _replace_atomically(review, write)
