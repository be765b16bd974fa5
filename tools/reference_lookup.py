"""Built-in tool: look a value up in a reference table (a CSV under ``data/reference/``).

Written like any user tool (a ``BaseTool`` with a pydantic ``args_schema``), so it goes through the same
registry. It only reads CSV files directly inside the reference folder (a table name is a bare file stem), opened
through ``etlcrew.confine`` like every other read, so a link out of the folder or a fifo is refused.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from crewai.tools import BaseTool
from pydantic import BaseModel, Field

from etlcrew.confine import ReadRefused, open_confined
from etlcrew.settings import find_project_dir

MAX_ROWS = 20


class ReferenceLookupInput(BaseModel):
    table: str = Field(description="reference table name, e.g. 'products' for data/reference/products.csv")
    column: str = Field(description="column to match, e.g. 'product'")
    value: str = Field(description="value to look for (case-insensitive substring)")


def reference_dir() -> Path:
    return find_project_dir() / "data" / "reference"


def lookup(table: str, column: str, value: str, folder: Path | None = None) -> list[dict[str, str]]:
    """Rows of ``table`` whose ``column`` contains ``value`` (case-insensitive), at most ``MAX_ROWS``."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", table):
        raise ValueError(f"table must be a bare name like 'products', got {table!r}")
    folder = folder or reference_dir()
    path = folder / f"{table}.csv"
    if not os.path.lexists(path):
        known = sorted(p.stem for p in path.parent.glob("*.csv"))
        raise ValueError(f"no reference table {table!r}; tables: {known}")
    try:
        raw = open_confined(path, (folder,), "data/reference")
    except ReadRefused as exc:
        raise ValueError(f"reference table {table!r} is not read: it is {exc}") from None
    with io.TextIOWrapper(raw, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise ValueError(f"table {table!r} has no column {column!r}; columns: {reader.fieldnames}")
        needle = value.casefold()
        return [row for row in reader if needle in (row.get(column) or "").casefold()][:MAX_ROWS]


class ReferenceLookupTool(BaseTool):
    name: str = "reference_lookup"
    description: str = "Look up rows of a reference table (products, customers) where a column contains a value."
    args_schema: type[BaseModel] = ReferenceLookupInput

    def _run(self, table: str, column: str, value: str) -> str:
        try:
            rows = lookup(table, column, value)
        except ValueError as exc:
            return f"error: {exc}"
        if not rows:
            return f"no rows in {table} where {column} contains {value!r}"
        return "\n".join("; ".join(f"{k}={v}" for k, v in row.items()) for row in rows)
