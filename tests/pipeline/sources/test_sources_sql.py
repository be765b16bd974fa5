"""The sql source on a real SQLite file: read-only, SELECT only, streamed rows, bad rows quarantined."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from etlcrew.errors import SourceError
from etlcrew.pipeline.sources import iter_items
from etlcrew.specs.datapath import SqlSource
from etlcrew.sql_guard import check_select as check_query


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    db = sqlite3.connect(tmp_path / "data" / "app.db")
    db.executescript("""
        CREATE TABLE tickets (id INTEGER, title TEXT, body TEXT, created TEXT, score REAL);
        INSERT INTO tickets VALUES (1, 'Printer', 'on fire', '2025-03-04', 1.5);
        INSERT INTO tickets VALUES (2, 'VPN', 'down; again', '2025-03-05', NULL);
        INSERT INTO tickets VALUES (NULL, NULL, NULL, NULL, NULL);
        INSERT INTO tickets VALUES (2, 'VPN', 'duplicate', '2025-03-06', 2);
        INSERT INTO tickets VALUES (NULL, 'orphan', 'no id', '2025-03-07', 3);
        INSERT INTO tickets VALUES (3, 'Long', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', NULL, 0);
    """)
    db.commit()
    db.close()
    return tmp_path


def sql(query: str = "SELECT * FROM tickets ORDER BY rowid", url: str = "sqlite:///data/app.db",
        **kw: object) -> SqlSource:
    return SqlSource(type="sql", name="db", url=url, query=query, **kw)


def test_rows_by_key_with_bad_rows_quarantined(project: Path) -> None:
    found = {i.item_id: i for i in iter_items(sql(key="id", max_bytes=80), project)}
    good = [k for k, i in found.items() if not i.quarantined]
    assert good == ["db:1", "db:2"]
    assert found["db:1"].text == "id: 1\ntitle: Printer\nbody: on fire\ncreated: 2025-03-04\nscore: 1.5"
    assert found["db:1"].metadata["row"]["score"] == 1.5
    reasons = {k: i.quarantine_reason for k, i in found.items() if i.quarantined}
    assert reasons["db:row-3"] == "row 3 is empty (every column NULL or blank)"
    assert reasons["db:3"] == "105 bytes > max_bytes 80"
    assert reasons["db:row-4"] == "row 4: duplicate key '2' (first seen at row 2)"
    assert reasons["db:row-5"] == "row 5 has an empty key column 'id'"


def test_row_numbers_streaming_and_determinism(project: Path) -> None:
    stream = iter_items(sql("SELECT title FROM tickets WHERE title IS NOT NULL ORDER BY rowid"), project)
    assert next(stream).item_id == "db:1"
    rest = list(stream)
    assert [i.item_id for i in rest] == ["db:2", "db:3", "db:4", "db:5"]
    again = list(iter_items(sql("SELECT title FROM tickets WHERE title IS NOT NULL ORDER BY rowid"), project))
    assert [(i.item_id, i.content_hash) for i in again][1:] == [(i.item_id, i.content_hash) for i in rest]


def test_oversized_row_quarantined_or_truncated(project: Path) -> None:
    query = "SELECT body FROM tickets WHERE id = 3"
    assert next(iter_items(sql(query, max_bytes=20), project)).quarantine_reason == "66 bytes > max_bytes 20"
    cut = next(iter_items(sql(query, max_bytes=20, truncate=True), project))
    assert cut.text == "body: " + "x" * 14 and cut.metadata["truncated"] is True


def test_with_query_and_absolute_url(project: Path) -> None:
    url = f"sqlite:///{project / 'data' / 'app.db'}"
    query = "-- recent\nWITH t AS (SELECT id, title FROM tickets WHERE id IS NOT NULL) SELECT * FROM t ORDER BY id;"
    assert next(iter_items(sql(query, url=url), project)).text == "id: 1\ntitle: Printer"


@pytest.mark.parametrize(("query", "message"), [
    ("DELETE FROM tickets", "starts with DELETE"),
    ("SELECT 1; DROP TABLE tickets", "more than one statement"),
    ("WITH x AS (SELECT 1) DELETE FROM tickets", "contains DELETE"),
    ("SELECT * INTO copy FROM tickets", "contains INTO"),
    ("PRAGMA table_info(tickets)", "starts with PRAGMA"),
    ("  ;  ", "the query is empty"),
])
def test_only_a_single_select_is_accepted(project: Path, query: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as err:
        iter_items(sql(query), project)
    assert "single SELECT" in err.value.hint


def test_keywords_inside_strings_and_comments_are_fine() -> None:
    assert check_query("SELECT 'delete; drop' AS a /* update; */ -- insert\n;") == \
        "SELECT 'delete; drop' AS a /* update; */ -- insert"


def test_database_is_opened_read_only(project: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from etlcrew.pipeline.sources.sql import open_engine

    engine = open_engine(make_url("sqlite:///data/app.db"), project)
    with engine.connect() as conn, pytest.raises(Exception, match="readonly"):
        conn.execute(text("DELETE FROM tickets"))
    engine.dispose()


def test_missing_database_is_a_source_error(project: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot open database sqlite:///data/nope.db: no database file at ") as e:
        iter_items(sql(url="sqlite:///data/nope.db"), project)
    assert "relative to the project directory" in e.value.hint
    assert not (project / "data" / "nope.db").exists()


def test_bad_query_or_key_is_a_source_error(project: Path) -> None:
    with pytest.raises(SourceError, match=r"query failed on sqlite:///data/app\.db: no such table: nope"):
        iter_items(sql("SELECT * FROM nope"), project)
    with pytest.raises(SourceError, match=r"key column 'ref' is not in the query's columns \(id, title\)"):
        iter_items(sql("SELECT id, title FROM tickets", key="ref"), project)


def test_password_is_redacted(project: Path) -> None:
    with pytest.raises(SourceError) as err:
        iter_items(sql(url="postgresql://app:hunter2@127.0.0.1:1/db"), project)
    assert "hunter2" not in str(err.value) and "app:***@127.0.0.1:1/db" in str(err.value)
    with pytest.raises(SourceError) as err:
        iter_items(sql(url="not a url:hunter2@"), project)
    assert "hunter2" not in str(err.value)
