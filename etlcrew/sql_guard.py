"""The one read-only SQL guard, for ``sql`` sources, the ``sql_query`` tool and ``validate``.

Three layers, because a query may come from the model or from a hostile config: the text check
(``check_select``: string literals and comments blanked first, so a ``;`` or ``DROP`` inside quotes is harmless,
then exactly one SELECT/WITH and no writing keyword); a connection that cannot write (``read_only``: SQLite files
are opened ``mode=ro`` by the callers, PostgreSQL/MySQL sessions set read-only); and for SQLite an authorizer
(``deny_writes``) that refuses everything but reading, ``load_extension`` included. Imports nothing of etlcrew.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|UPSERT|DROP|ALTER|CREATE|ATTACH|DETACH|PRAGMA|"
                     r"VACUUM|TRUNCATE|GRANT|REVOKE|REINDEX|INTO|CALL|EXEC|EXECUTE|LOCK|COPY|LOAD_EXTENSION)\b",
                     re.IGNORECASE)
_SQLITE_READS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                 getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


class NotReadOnly(ValueError):
    """The query is not exactly one read-only SELECT; the message says why."""


def check_select(query: str) -> str:
    """The query without trailing ``;`` when it is one read-only SELECT (or WITH ... SELECT); else ``NotReadOnly``."""
    bare = _COMMENTS.sub(" ", _STRINGS.sub("''", query)).strip().rstrip("; \t\r\n")
    if not bare:
        raise NotReadOnly("the query is empty")
    if ";" in bare:
        raise NotReadOnly("the query holds more than one statement (a ';' before the end)")
    first = bare.split(None, 1)[0].upper()
    if first not in ("SELECT", "WITH"):
        raise NotReadOnly(f"the query starts with {first}, but only a SELECT (or WITH ... SELECT) may be run")
    write = _WRITES.search(bare)
    if write:
        raise NotReadOnly(f"the query contains {write.group(1).upper()}, but it may only read")
    return query.strip().rstrip("; \t\r\n")


def deny_writes(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    """SQLite authorizer: reading only; ``load_extension`` refused even as a function."""
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in _SQLITE_READS else sqlite3.SQLITE_DENY


def read_only(conn: Any) -> Any:
    """A SQLAlchemy connection whose session cannot write (PostgreSQL, MySQL/MariaDB); others unchanged."""
    backend = conn.dialect.name
    if backend == "postgresql":
        return conn.execution_options(postgresql_readonly=True)
    if backend in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    return conn
