"""Load into real DuckDB, SQLite, JSON-lines and Parquet files: merge on the key, twice gives the same rows."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etlcrew.pipeline.records import QuarantineRow
from etlcrew.pipeline.targets import column_hints, dedupe_by_key, land_records
from etlcrew.settings import Settings
from etlcrew.specs.datapath import DatabaseTarget, FileTarget, ReportTarget, SchemaSpec

SCHEMA = SchemaSpec(table="tickets", fields={
    "category": {"type": "enum", "values": ["billing", "bug"]},
    "tags": {"type": "list", "items": "string"},
    "count": {"type": "integer", "required": False},
    "score": {"type": "number", "required": False},
    "spam": {"type": "boolean", "required": False},
    "due": {"type": "date", "required": False},
    "seen_at": {"type": "datetime", "required": False},
})
RECORDS = [
    {"item_id": "mail:1", "category": "bug", "tags": ["crash", "ios"], "count": 2, "score": 0.5, "spam": False,
     "due": "2024-02-29", "seen_at": "2024-02-29T10:00:00Z"},
    {"item_id": "mail:2", "category": "billing", "tags": [], "count": None, "score": None, "spam": None,
     "due": None, "seen_at": None},
]
QUARANTINED = [QuarantineRow("mail:3", "mail", "category: Input should be 'billing' or 'bug'", "text", "{bad}")]
NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return Settings(project_dir=tmp_path, config_dir=tmp_path / "config", state_dir=tmp_path / ".etlcrew",
                    output_dir=tmp_path / "output", model_cache_dir=tmp_path / "models")


def load(settings: Settings, targets: list, records=RECORDS, quarantined=QUARANTINED, run_id="run-1"):
    result = land_records("triage", SCHEMA, targets, records, quarantined, run_id, settings, now=NOW)
    assert result.ok, result.errors
    return result


def duck_rows(path: Path, table: str, dataset: str = "etlcrew") -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        cols = "item_id, category, tags, count, score, spam, due, seen_at, _run_id" if table == "tickets" else \
            "item_id, source, reason, raw_input, raw_model_output, run_id"
        return con.sql(f"select {cols} from {dataset}.{table} order by item_id").fetchall()


def test_column_hints_follow_schema():
    hints = column_hints(SCHEMA)
    assert hints["item_id"] == {"data_type": "text", "nullable": False, "primary_key": True}
    assert hints["tags"]["data_type"] == "json" and hints["due"]["data_type"] == "date"
    assert hints["seen_at"]["data_type"] == "timestamp" and hints["count"] == {"data_type": "bigint", "nullable": True}
    assert list(hints)[-2:] == ["_run_id", "_loaded_at"]


def test_dedupe_keeps_last_per_key_in_first_seen_order():
    rows = [{"item_id": "a", "v": 1}, {"item_id": "b", "v": 1}, {"item_id": "a", "v": 2}]
    assert dedupe_by_key(rows, ["item_id"]) == [{"item_id": "a", "v": 2}, {"item_id": "b", "v": 1}]


def test_duckdb_typed_columns_merge_and_quarantine(settings: Settings):
    load(settings, [DatabaseTarget(type="duckdb")])
    db = settings.output_dir / "triage.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        types = dict(con.sql("select column_name, data_type from information_schema.columns "
                             "where table_schema='etlcrew' and table_name='tickets'").fetchall())
        tables = {r[0] for r in con.sql("select table_name from information_schema.tables "
                                        "where table_schema='etlcrew'").fetchall()}
    assert types["tags"] == "JSON" and types["due"] == "DATE" and types["count"] == "BIGINT"
    assert types["spam"] == "BOOLEAN" and types["score"] == "DOUBLE" and types["seen_at"].startswith("TIMESTAMP")
    assert not any(t.startswith("tickets__tags") for t in tables), "lists must not become child tables"
    first = duck_rows(db, "tickets")
    assert [r[0] for r in first] == ["mail:1", "mail:2"]
    assert json.loads(first[0][2]) == ["crash", "ios"] and first[0][6] == dt.date(2024, 2, 29)

    load(settings, [DatabaseTarget(type="duckdb")])
    assert duck_rows(db, "tickets") == first

    changed = [RECORDS[0] | {"category": "billing"}]
    load(settings, [DatabaseTarget(type="duckdb")], records=changed, quarantined=[], run_id="run-2")
    rows = duck_rows(db, "tickets")
    assert len(rows) == 2 and rows[0][1] == "billing" and rows[0][8] == "run-2" and rows[1] == first[1]
    assert duck_rows(db, "tickets__quarantine") == [
        ("mail:3", "mail", QUARANTINED[0].reason, "text", "{bad}", "run-1")]


def test_duckdb_custom_path_and_dataset(settings: Settings):
    load(settings, [DatabaseTarget(type="duckdb", path="data/out.duckdb", dataset="crm")])
    assert len(duck_rows(settings.project_dir / "data" / "out.duckdb", "tickets", "crm")) == 2
    assert (settings.state_dir / "dlt").is_dir()
    assert not (settings.project_dir / "home" / ".dlt").exists()


def test_sqlite_merge_and_quarantine(settings: Settings):
    load(settings, [DatabaseTarget(type="sqlite")])
    load(settings, [DatabaseTarget(type="sqlite")], records=[RECORDS[1] | {"category": "bug"}],
         quarantined=QUARANTINED, run_id="run-2")
    with sqlite3.connect(settings.output_dir / "triage.sqlite") as con:
        rows = con.execute("select item_id, category, tags, due, _run_id from tickets order by item_id").fetchall()
        quarantine = con.execute("select item_id, reason, run_id from tickets__quarantine").fetchall()
    assert rows == [("mail:1", "bug", '["crash", "ios"]', "2024-02-29", "run-1"),
                    ("mail:2", "bug", "[]", None, "run-2")]
    assert quarantine == [("mail:3", QUARANTINED[0].reason, "run-2")]


def test_jsonl_merge_is_idempotent(settings: Settings):
    target = FileTarget(type="jsonl")
    load(settings, [target])
    path = settings.output_dir / "triage.jsonl"
    first = path.read_text()
    load(settings, [target])
    assert path.read_text() == first
    load(settings, [target], records=[RECORDS[0] | {"count": 7}], run_id="run-2")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["item_id"], r["count"], r["_run_id"]) for r in rows] == [("mail:1", 7, "run-2"),
                                                                        ("mail:2", None, "run-1")]
    assert rows[1]["_loaded_at"] == "2025-01-02T03:04:05+00:00" and rows[0]["due"] == "2024-02-29"
    quarantine_file = settings.output_dir / "triage__quarantine.jsonl"
    quarantine = [json.loads(line) for line in quarantine_file.read_text().splitlines()]
    assert [q["item_id"] for q in quarantine] == ["mail:3"]
    assert not list(settings.output_dir.glob(".*")), "no temporary files left behind"


def test_parquet_typed_merge(settings: Settings):
    target = FileTarget(type="parquet", path="out/tickets.parquet")
    load(settings, [target])
    load(settings, [target])
    load(settings, [target], records=[RECORDS[1] | {"spam": True}], quarantined=[], run_id="run-2")
    table = pq.read_table(settings.project_dir / "out" / "tickets.parquet")
    assert table.column_names == ["item_id", *SCHEMA.fields, "_run_id", "_loaded_at"]
    assert str(table.schema.field("due").type) == "date32[day]"
    assert pa.types.is_list(table.schema.field("tags").type)
    assert table.schema.field("tags").type.value_type == pa.string()
    rows = table.to_pylist()
    assert [(r["item_id"], r["spam"], r["_run_id"]) for r in rows] == [("mail:1", False, "run-1"),
                                                                       ("mail:2", True, "run-2")]
    assert rows[0]["tags"] == ["crash", "ios"] and rows[0]["due"] == dt.date(2024, 2, 29)
    assert pq.read_table(settings.project_dir / "out" / "tickets__quarantine.parquet").num_rows == 1


def test_report_targets_are_passed_over_and_errors_are_per_target(settings: Settings):
    result = land_records("triage", SCHEMA, [ReportTarget(type="report"), DatabaseTarget(type="dlt"),
                                             FileTarget(type="jsonl")], RECORDS, [], "run-1", settings)
    assert [load.target for load in result.landings] == ["dlt:None", f"jsonl {settings.output_dir / 'triage.jsonl'}"]
    assert not result.ok and "destination" in result.errors[0]
    assert (settings.output_dir / "triage.jsonl").exists()
