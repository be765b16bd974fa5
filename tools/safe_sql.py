"""Read-only SQL for tools: one SELECT, checked as text, then run on a connection that cannot write.

Three layers, because the query comes from the model: the text check below (string literals and comments
blanked first, so a ``;`` or ``DROP`` inside quotes is harmless); a connection opened read-only (SQLite
``mode=ro``, PostgreSQL/MySQL read-only sessions, as ``pipeline.sources.sql`` opens sources); and for SQLite an
authorizer that denies everything but reading, plus sqlite3's own refusal of more than one statement.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from etlcrew.tools.errors import ToolScopeError

_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|UPSERT|DROP|ALTER|CREATE|ATTACH|DETACH|PRAGMA|VACUUM|"
                     r"TRUNCATE|GRANT|REVOKE|REINDEX|INTO|CALL|EXEC|EXECUTE|LOCK|COPY|LOAD_EXTENSION)\b",
                     re.IGNORECASE)
_SQLITE_READS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                 getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def check_select(query: str) -> str:
    """The query without trailing ``;`` when it is one read-only SELECT (or WITH ... SELECT)."""
    bare = _COMMENTS.sub(" ", _STRINGS.sub("''", query)).strip().rstrip("; \t\r\n")
    if not bare:
        raise ToolScopeError("the query is empty")
    if ";" in bare:
        raise ToolScopeError("the query holds more than one statement (a ';' before the end); send one SELECT")
    first = bare.split(None, 1)[0].upper()
    if first not in ("SELECT", "WITH"):
        raise ToolScopeError(f"the query starts with {first}; only a SELECT (or WITH ... SELECT) may be run")
    write = _WRITES.search(bare)
    if write:
        raise ToolScopeError(f"the query contains {write.group(1).upper()}; tools may only read")
    return query.strip().rstrip("; \t\r\n")


def _deny_writes(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in _SQLITE_READS else sqlite3.SQLITE_DENY


def _sqlite_rows(database: str, base_dir: Path, query: str, max_rows: int) -> tuple[list[str], list[tuple]]:
    path = Path(database.removeprefix("file:").split("?", 1)[0]).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ToolScopeError(f"no database file at {path}")
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    try:
        conn.set_authorizer(_deny_writes)
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
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(postgresql_readonly=True)
            elif conn.dialect.name in ("mysql", "mariadb"):
                conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
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
