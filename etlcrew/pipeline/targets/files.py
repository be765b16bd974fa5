"""JSON-lines and Parquet targets: one file merged on the primary key, rewritten atomically.

Rows are read back, replaced by key, sorted by key and written to a temporary file that is then renamed, so a
crash leaves the old file and loading the same records twice leaves the same rows. Parquet columns are typed
from the schema (dates as ``date32``, datetimes as UTC timestamps, lists as list columns).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from etlcrew.pipeline.targets.database import typed_row
from etlcrew.settings import Settings
from etlcrew.specs.datapath import FileTarget, SchemaSpec


def file_path(target: FileTarget, crew: str, settings: Settings) -> Path:
    """``output/<crew>.jsonl`` or ``.parquet`` unless the target names a path (relative to the project)."""
    if target.path:
        path = Path(target.path)
        return path if path.is_absolute() else settings.project_dir / path
    return settings.output_dir / f"{crew}.{target.type}"


def sibling_quarantine_path(path: Path) -> Path:
    """``tickets.jsonl`` → ``tickets__quarantine.jsonl``: quarantined items next to the records."""
    return path.with_name(f"{path.stem}__quarantine{path.suffix}")


def _key(row: dict[str, Any], key: list[str]) -> str:
    return json.dumps([row.get(k) for k in key], default=str)


def merge_rows(existing: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]], key: list[str]) -> list[dict]:
    """Existing rows with new ones replacing those of the same key; sorted by key for a stable file."""
    merged = {_key(r, key): r for r in existing}
    merged.update({_key(r, key): r for r in new})
    return [merged[k] for k in sorted(merged)]


def _replace_atomically(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)  # mkstemp's 0600 is too strict
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def merge_jsonl(path: Path, rows: list[dict[str, Any]], key: list[str]) -> int:
    """Merge JSON-safe rows into a JSON-lines file; returns the file's row count."""
    existing = []
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            existing = [json.loads(line) for line in fh if line.strip()]
    merged = merge_rows(existing, rows, key)

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in merged:
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=False, default=str) + "\n")

    _replace_atomically(path, write)
    return len(merged)


def arrow_schema(schema: SchemaSpec | None, columns: list[str]) -> Any:
    """A pyarrow schema for ``columns``: typed from the SchemaSpec where it knows the column, else text."""
    import pyarrow as pa

    scalar = {"string": pa.string(), "enum": pa.string(), "integer": pa.int64(), "number": pa.float64(),
              "boolean": pa.bool_(), "date": pa.date32(), "datetime": pa.timestamp("us", tz="UTC")}
    known = {"_loaded_at": pa.timestamp("us", tz="UTC"), "quarantined_at": pa.timestamp("us", tz="UTC")}
    fields = []
    for name in columns:
        spec = schema.fields.get(name) if schema else None
        if name in known:
            typ = known[name]
        elif spec is None:
            typ = pa.string()
        elif spec.type == "list":
            typ = pa.list_(scalar[spec.items])
        else:
            typ = scalar[spec.type]
        fields.append(pa.field(name, typ))
    return pa.schema(fields)


def merge_parquet(path: Path, rows: list[dict[str, Any]], key: list[str], schema: SchemaSpec | None) -> int:
    """Merge rows into a Parquet file typed from ``schema``; returns the file's row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    typed = [typed_row(r, schema) if schema else dict(r) for r in rows]
    existing = pq.read_table(path).to_pylist() if path.exists() else []
    merged = merge_rows(existing, typed, key)
    columns = ["item_id", *schema.fields, "_run_id", "_loaded_at"] if schema else []
    for row in merged:
        columns += [c for c in row if c not in columns]
    target = arrow_schema(schema, columns)
    for row in merged:  # untyped columns are text: anything else is stored as its JSON
        for name in columns:
            value = row.get(name)
            if target.field(name).type == pa.string() and value is not None and not isinstance(value, str):
                row[name] = json.dumps(value, default=str)
    table = pa.Table.from_pylist(merged, schema=target)
    _replace_atomically(path, lambda tmp: pq.write_table(table, tmp))
    return len(merged)


def load_file(target: FileTarget, crew: str, schema: SchemaSpec, rows: list[dict[str, Any]],
              quarantine: list[dict[str, Any]], settings: Settings, review: list[dict[str, Any]] | None = None
              ) -> str:
    """Merge records (quarantined items and records held for review into sibling files) into the target file;
    returns its path."""
    path = file_path(target, crew, settings)
    key = list(schema.primary_key)
    review_path = path.with_name(f"{path.stem}__review{path.suffix}")
    if target.type == "jsonl":
        if rows or not path.exists():
            merge_jsonl(path, [_json_safe(r) for r in rows], key)
        if quarantine:
            merge_jsonl(sibling_quarantine_path(path), [_json_safe(q) for q in quarantine], ["item_id"])
        if review:
            merge_jsonl(review_path, [_json_safe(r) for r in review], key)
    else:
        if rows or not path.exists():
            merge_parquet(path, rows, key, schema)
        if quarantine:
            merge_parquet(sibling_quarantine_path(path), quarantine, ["item_id"], None)
        if review:
            merge_parquet(review_path, review, key, None)
    return str(path)


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
