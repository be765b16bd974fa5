"""One read-only SQL guard: a source and a tool refuse the same queries, and SQLite sources cannot write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from etlcrew.tools.errors import ToolScopeError
from etlcrew.tools.safe_sql import check_select as tool_check

from etlcrew.errors import SourceError
from etlcrew.pipeline.sources import iter_items
from etlcrew.specs.datapath import SqlSource
from etlcrew.sql_guard import NotReadOnly, check_select

HOSTILE = [
    "DELETE FROM t", "ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA writable_schema = 1", "SELECT 1; DROP TABLE t",
    "SELECT load_extension('evil')", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "", "  ;  ",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_source_tool_and_validate_refuse_the_same_queries(query: str, tmp_path: Path) -> None:
    with pytest.raises(NotReadOnly):
        check_select(query)
    with pytest.raises(ToolScopeError):
        tool_check(query)
    db = tmp_path / "app.db"
    sqlite3.connect(db).executescript("CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1);")
    spec = SqlSource(name="db", type="sql", url=f"sqlite:///{db}", query=query or " ")
    with pytest.raises(SourceError, match=r"query (is empty|holds more than one|starts with|contains)"):
        list(iter_items(spec, tmp_path))


def test_quoted_keywords_are_data_not_statements() -> None:
    assert check_select("SELECT 'delete; drop' AS a /* update; */ -- insert\n;") == \
        "SELECT 'delete; drop' AS a /* update; */ -- insert"
