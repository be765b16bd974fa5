"""The ``sql`` source: rows of one SELECT, streamed from a connection opened read-only.

Only a single SELECT/WITH statement is accepted, SQLite files are opened with ``mode=ro`` under a read-only
authorizer and PostgreSQL/MySQL sessions are set read-only (``etlcrew.sql_guard``, shared with the tools and
``validate``), so a source can never change the database it reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from etlcrew.errors import SourceError
from etlcrew.pipeline.items import Item, bad_item
from etlcrew.pipeline.sources.common import KeyTracker, is_blank_record, jsonable, record_text, sized_item
from etlcrew.redact import redact_url
from etlcrew.specs.datapath import SqlSource
from etlcrew.sql_guard import check_select, deny_writes, read_only

BATCH_ROWS = 500


def _safe_url(url: URL | str) -> str:
    if isinstance(url, URL):
        return redact_url(url.render_as_string(hide_password=True))
    return redact_url(url)


def _sqlite_engine(url: URL, project_dir: Path) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:"):
        return sa.create_engine("sqlite://")
    path = Path(database.removeprefix("file:").split("?", 1)[0]).expanduser()
    path = path if path.is_absolute() else project_dir / path
    if not path.is_file():
        raise FileNotFoundError(f"no database file at {path}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False))


def open_engine(url: URL, project_dir: Path) -> Engine:
    """An engine for ``url``; SQLite files open read-only (``mode=ro``), relative to the project directory."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, project_dir)
    return sa.create_engine(url)


def iter_sql(spec: SqlSource, project_dir: Path) -> Iterator[Item]:
    """Check the query, open the database and run the query now; stream the rows when iterated."""
    try:
        query = check_select(spec.query)
    except ValueError as e:
        raise SourceError(f"source {spec.name!r}: {e}",
                          hint="write a single SELECT statement in 'query'; the source opens the database "
                               "read-only") from None
    try:
        url = make_url(spec.url)
    except Exception as e:  # sqlalchemy raises ArgumentError, but a bad URL can also fail in the parser
        raise SourceError(f"source {spec.name!r}: {_safe_url(spec.url)} is not a database URL ({e})",
                          hint="use a SQLAlchemy URL such as sqlite:///data/app.db") from None
    safe = _safe_url(url)
    try:
        engine = open_engine(url, project_dir)
        conn = read_only(engine.connect())
        raw = conn.connection.dbapi_connection
        if isinstance(raw, sqlite3.Connection):  # after SQLAlchemy's own setup queries: from here on, reads only
            raw.set_authorizer(deny_writes)
    except Exception as e:  # driver errors vary; all mean the database cannot be opened
        raise SourceError(f"source {spec.name!r}: cannot open database {safe}: {_reason(e, url)}",
                          hint="check 'url' (relative sqlite paths are relative to the project directory), that "
                               "the database exists and is readable, and that its driver is installed") from None
    try:
        result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(sa.text(query))
        columns = list(result.keys())
        if spec.key and spec.key not in columns:
            raise ValueError(f"key column {spec.key!r} is not in the query's columns ({', '.join(columns)})")
    except Exception as e:
        conn.close()
        engine.dispose()
        raise SourceError(f"source {spec.name!r}: query failed on {safe}: {_reason(e, url)}",
                          hint="check the query and key against the database schema") from None
    return _rows(spec, engine, conn, result, safe, url)


def _reason(error: Exception, url: URL) -> str:
    reason = str(getattr(error, "orig", None) or error).splitlines()[0]
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return redact_url(reason)


def _rows(spec: SqlSource, engine: Engine, conn: Connection, result: Any, safe: str, url: URL) -> Iterator[Item]:
    tracker, number = KeyTracker(), 0
    try:
        for row in result:
            number += 1
            yield _row_item(spec, number, {str(k): jsonable(v) for k, v in row._mapping.items()}, tracker)
    except sa.exc.SQLAlchemyError as e:
        raise SourceError(f"source {spec.name!r}: reading rows from {safe} failed after row {number}: "
                          f"{_reason(e, url)}", hint="run again; rows already read are kept") from None
    finally:
        result.close()
        conn.close()
        engine.dispose()


def _row_item(spec: SqlSource, number: int, row: dict[str, Any], tracker: KeyTracker) -> Item:
    meta = {"row_number": number, "row": row}
    key = f"row-{number}" if spec.key else str(number)
    if is_blank_record(row):
        return bad_item(spec.name, key, f"row {number} is empty (every column NULL or blank)", None, meta)
    if spec.key:
        value = row.get(spec.key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return bad_item(spec.name, f"row-{number}", f"row {number} has an empty key column {spec.key!r}",
                            record_text(row), meta)
        key = str(value)
        duplicate = tracker.check(key, f"row {number}")
        if duplicate:
            return bad_item(spec.name, f"row-{number}", f"row {number}: {duplicate}", record_text(row), meta)
    return sized_item(spec.name, spec.max_bytes, spec.truncate, key, record_text(row), meta)

