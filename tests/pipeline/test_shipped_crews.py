"""Every shipped crew runs end to end on its shipped data (scripted model in place of the LLM only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest


@pytest.fixture
def shipped(scripted):  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    return scripted("shipped", default=sample_answer)


@pytest.mark.parametrize(("crew", "table", "expected"), [
    ("research_brief", "findings", None),
    ("orders_enrichment", "orders", 60),
    ("inbox_hierarchical", "tickets_hierarchical", None),
])
def test_shipped_crew_loads_its_table(project_dir: Path, shipped, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                      crew: str, table: str, expected: int | None) -> None:
    if crew == "orders_enrichment":
        subprocess.run([sys.executable, str(project_dir / "data/make_shop_db.py"), "--path",
                        str(project_dir / "data/shop.sqlite")], check=True, capture_output=True)
    args = ["run", crew, "--model", "scripted/shipped", "--json"]
    if crew == "inbox_hierarchical":
        args += ["--process", "sequential"]  # the scripted model does not delegate; the manager path is in tests/crews
    result = cli(*args)
    assert result.code == 0, result.err
    summary = result.json
    items = summary["items"]
    assert items["extracted"] > 0
    assert items["extracted"] == items["loaded"] + items["quarantined"] + items["skipped"]
    if expected is not None:
        assert items["extracted"] == expected
    with duckdb.connect(str(tmp_path / f"output/{crew}.duckdb"), read_only=True) as con:
        (rows,) = con.execute(f"SELECT count(*) FROM etlcrew.{table}").fetchone()
    assert rows == items["loaded"]


def test_missing_shop_database_is_a_clear_source_error(project_dir: Path, shipped, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", "orders_enrichment", "--model", "scripted/shipped")
    assert code == 1
    assert "shop.sqlite" in err and "Traceback" not in err
