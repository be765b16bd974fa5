"""Read-only SQL for tools: one SELECT, checked as text, then run on a connection that cannot write.

The guard itself (text check, read-only sessions, SQLite authorizer) is ``etlcrew.sql_guard``, shared with the
``sql`` sources and ``validate``; here it is applied to the model's queries, plus sqlite3's own refusal of more
than one statement.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from etlcrew.tools.errors import ToolScopeError

from etlcrew.sql_guard import NotReadOnly, deny_writes, read_only
from etlcrew.sql_guard import check_select as _check_text


def check_select(query: str) -> str:
    """The query without trailing ``;`` when it is one read-only SELECT (``etlcrew.sql_guard``), for a tool."""
    try:
        return _check_text(query)
    except NotReadOnly as exc:
        raise ToolScopeError(f"{exc}; send one SELECT") from None


def _sqlite_rows(database: str, base_dir: Path, query: str, max_rows: int) -> tuple[list[str], list[tuple]]:
    path = Path(database.removeprefix("file:").split("?", 1)[0]).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ToolScopeError(f"no database file at {path}")
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    try:
        conn.set_authorizer(deny_writes)
        try:
            cursor = conn.execute(query)
        except sqlite3.ProgrammingError as exc:  # "You can only execute one statement at a time."
            raise ToolScopeError(f"the query was refused: {exc}") from None
        except sqlite3.DatabaseError as exc:
            if "not authorized" in str(exc):
                raise ToolScopeError(f"the query was refused by the read-only guard ({exc})") from None
            raise
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchmany(max_rows + 1)
    finally:
        conn.close()


def _other_rows(url: Any, query: str, max_rows: int) -> tuple[list[str], list[tuple]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as raw:
            conn = read_only(raw)
            result = conn.execute(sa.text(query))
            return list(result.keys()), [tuple(r) for r in result.fetchmany(max_rows + 1)]
    finally:
        engine.dispose()


def run_select(url: str, query: str, base_dir: Path, max_rows: int) -> dict[str, Any]:
    """Rows of an already checked query as ``{"columns", "rows", "truncated"}``, at most ``max_rows`` rows."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError, a bad URL can also fail in the parser
        raise ToolScopeError(f"{url!r} is not a database URL ({exc})") from None
    if parsed.get_backend_name() == "sqlite":
        columns, rows = _sqlite_rows(parsed.database or "", base_dir, query, max_rows)
    else:
        columns, rows = _other_rows(parsed, query, max_rows)
    return {"columns": columns, "rows": [dict(zip(columns, row, strict=False)) for row in rows[:max_rows]],
            "truncated": len(rows) > max_rows}
