"""A person's values for a held record: typed text parsed and checked against the schema as the model's are
(enum values, types, lengths), and the reviewed items written as a labels file ``eval`` reads.

``data/<crew>_reviewed.csv`` is kept apart from the curated labels: reviewed items are the hard ones, and a
labels file made of them flatters nothing. It holds one row per accepted or corrected item (a discarded item has
no record, so no label), keyed by ``file`` when every item is one file with a distinct name, else by ``item_id``.
Free-text fields are left out: ``eval`` compares text exactly (apart from case and spacing), which no model's
wording would match; enum, number, boolean and date fields are the labels.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from etlcrew.specs.datapath import FieldSpec, SchemaSpec

TEXT_TYPES = ("string",)


def shown(value: Any) -> str:
    """A value as a person types it: lists as JSON, booleans as true/false, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def parse_value(spec: FieldSpec, text: str) -> Any:
    """The JSON-safe value of ``text`` for this field; ``ValueError`` says why it cannot be (no I/O)."""
    from etlcrew.evaluation.values import parse_boolean
    from etlcrew.pipeline.records import _annotation, _constraints

    text = text.strip()
    if not text:
        if spec.required:
            raise ValueError("a value is required")
        return None
    if spec.type == "enum" and text not in (spec.values or []):
        raise ValueError(f"'{text}' is not one of {', '.join(spec.values or [])}")
    given: Any = text
    if spec.type == "list":
        try:
            given = json.loads(text)
        except ValueError:
            raise ValueError('write a JSON list such as ["a", "b"]') from None
    elif spec.type == "boolean":
        given = parse_boolean(text)
    constraints = {k: v for k, v in _constraints(spec).items() if k != "description"}
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[_annotation(spec), Field(**constraints)])
    try:
        value = adapter.validate_python(given, strict=False)
    except ValidationError as exc:
        raise ValueError("; ".join(e["msg"] for e in exc.errors())) from None
    return adapter.dump_python(value, mode="json")


def label_fields(schema: SchemaSpec) -> list[str]:
    """The fields a reviewed item gives as labels: every field but free text, lists and the key."""
    return [name for name, spec in schema.fields.items()
            if name != "item_id" and spec.type not in (*TEXT_TYPES, "list")]


def write_reviewed_labels(path: Path, schema: SchemaSpec, decisions: list[dict[str, Any]],
                          files: dict[str, str | None]) -> int:
    """Rewrite the labels file from the ledger's decisions (atomically); returns its rows. ``files``: item_id ->
    the item's file, when it is one file."""
    kept = [d for d in decisions if d["final"] is not None]
    names = [files.get(d["item_id"]) for d in kept]
    base = [n.replace("\\", "/").rsplit("/", 1)[-1] if n else None for n in names]
    by_file = bool(kept) and all(base) and len(set(base)) == len(base)
    columns = label_fields(schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file" if by_file else "item_id", *columns])
        for decision, name in zip(kept, base, strict=True):
            writer.writerow([name if by_file else decision["item_id"],
                             *(shown(decision["final"].get(c)) for c in columns)])
    os.replace(tmp, path)
    return len(kept)


def reviewed_labels_path(project_dir: Path, crew: str) -> Path:
    """Where a crew's reviewed items are kept as labels: ``data/<crew>_reviewed.csv``."""
    return project_dir / "data" / f"{crew}_reviewed.csv"
