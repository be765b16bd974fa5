"""A crew's schema changed after its first load: a new field just works, a type change stops before any model
call (exit 2 naming the field and the command), ``--full-refresh`` rebuilds the table. Real DuckDB/SQLite files."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import duckdb
import pytest
from yaml_edit import edit_config

from etlcrew.pipeline.targets import land_records
from etlcrew.settings import Settings
from etlcrew.specs.datapath import DatabaseTarget, FileTarget, SchemaSpec

LAST_FIELD = "      requested_action: {type: string, required: false, max: 60}\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(project_dir=tmp_path, config_dir=tmp_path / "config", state_dir=tmp_path / ".etlcrew",
                    output_dir=tmp_path / "output", model_cache_dir=tmp_path / "models")


def columns(settings: Settings, kind: str) -> dict[str, tuple[str, bool]]:
    """column -> (type, nullable) of the table ``t`` as the store itself has it."""
    if kind == "duckdb":
        with duckdb.connect(str(settings.output_dir / "c.duckdb"), read_only=True) as con:
            rows = con.execute("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                               "WHERE table_name = 't'").fetchall()
        return {name: (typ, null == "YES") for name, typ, null in rows}
    with closing(sqlite3.connect(settings.output_dir / "c.sqlite")) as db:
        return {r[1]: (r[2], not r[3]) for r in db.execute("PRAGMA table_info(t)")}


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_a_new_required_field_is_a_new_column_and_earlier_rows_stay_empty(settings: Settings, kind: str) -> None:
    target = [DatabaseTarget(type=kind)]
    first = SchemaSpec(table="t", fields={"a": {"type": "string"}})
    assert land_records("c", first, target, [{"item_id": "1", "a": "x"}], [], "r1", settings).ok
    more = SchemaSpec(table="t", fields={"a": {"type": "string"}, "b": {"type": "integer"}})
    result = land_records("c", more, target, [{"item_id": "2", "a": "y", "b": 7}], [], "r2", settings)
    assert result.ok, result.errors
    assert columns(settings, kind)["b"][1], "a new column is nullable, whatever `required` says"
    optional = SchemaSpec(table="t", fields={"a": {"type": "string", "required": False}, "b": {"type": "integer"}})
    assert land_records("c", optional, target, [{"item_id": "3", "a": None, "b": 1}], [], "r3", settings).ok
    if kind == "duckdb":
        with duckdb.connect(str(settings.output_dir / "c.duckdb"), read_only=True) as con:
            rows = con.execute("SELECT item_id, a, b FROM etlcrew.t ORDER BY item_id").fetchall()
    else:
        with closing(sqlite3.connect(settings.output_dir / "c.sqlite")) as db:
            rows = db.execute("SELECT item_id, a, b FROM t ORDER BY item_id").fetchall()
    assert rows == [("1", "x", None), ("2", "y", 7), ("3", None, 1)]
    assert sorted(p.name for p in settings.output_dir.iterdir()) == [f"c.{kind}"], "no staging file is left"


def test_a_parquet_type_change_is_found_before_the_run(settings: Settings) -> None:
    from etlcrew.pipeline.targets.preflight import _parquet_file_problems

    first = SchemaSpec(table="t", fields={"urgency": {"type": "string"}, "n": {"type": "integer"}})
    assert land_records("c", first, [FileTarget(type="parquet")], [{"item_id": "1", "urgency": "low", "n": 1}], [],
                        "r1", settings).ok
    path = settings.output_dir / "c.parquet"
    assert _parquet_file_problems(path, first, "c", "config/crews.yaml") == []
    changed = SchemaSpec(table="t", fields={"urgency": {"type": "integer"}, "n": {"type": "integer"},
                                            "new": {"type": "date"}})
    problems = _parquet_file_problems(path, changed, "c", "config/crews.yaml")
    assert [p.key for p in problems] == ["schema.fields.urgency.type"]
    assert "--full-refresh" in (problems[0].hint or "")


def model_calls(state: Path) -> int:
    with sqlite3.connect(state / "ledger.db") as db:
        return db.execute("SELECT count(*) FROM model_calls").fetchone()[0]


def test_type_change_stops_before_any_model_call_and_full_refresh_rebuilds(
        project_dir: Path, cli, isolated_state: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    crews = project_dir / "config" / "crews.yaml"
    edit_config(crews, LAST_FIELD, LAST_FIELD + "      language: {type: string, required: false}\n")
    result = cli("run", "--model", "scripted/sample", "--json")
    assert result.code == 0, result.err
    first = result.json
    calls = model_calls(isolated_state)
    edit_config(crews, "      language: {type: string, required: false}\n",
                "      language: {type: integer, required: false}\n")
    code, _, err = cli("run", "--model", "scripted/sample", "--json")
    assert code == 2
    assert "language" in err and "python main.py run support_inbox --full-refresh" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3, err
    assert model_calls(isolated_state) == calls, "no model call before the check"
    with sqlite3.connect(isolated_state / "ledger.db") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1, "nothing written to the ledger"
    assert cli("validate").code == 2, "validate finds the same problem"
    result = cli("run", "--model", "scripted/sample", "--full-refresh", "--json")
    assert result.code == 0, result.err
    rebuilt = result.json
    assert rebuilt["items"]["loaded"] == first["items"]["loaded"]
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        kind = con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'tickets' "
                           "AND column_name = 'language'").fetchone()
        count = con.execute("SELECT count(*) FROM etlcrew.tickets").fetchone()
    assert kind == ("BIGINT",) and count == (first["items"]["loaded"],)
    assert cli("validate").code == 0
