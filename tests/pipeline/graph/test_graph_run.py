"""``process: graph`` end to end through the CLI: real files in, real DuckDB out; the scripted model is the LLM."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest
from yaml_edit import edit_config

COLUMNS = "item_id, customer, product, category, urgency, sentiment, summary, requested_action"


@pytest.fixture
def scripted_default(scripted):  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    return scripted("etl", default=sample_answer)


def rows(tmp_path: Path, table: str = "tickets") -> list[tuple]:  # type: ignore[type-arg]
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT {COLUMNS} FROM etlcrew.{table} ORDER BY item_id").fetchall()


def run(cli, *args: str):  # type: ignore[no-untyped-def]
    return cli("run", *args, "--model", "scripted/etl", "--json")


def test_graph_gives_the_same_records_as_sequential(project_dir: Path, scripted_default, cli,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path, isolated_state: Path) -> None:
    first = run(cli)
    assert first.code == 0, first.err
    sequential = rows(tmp_path)
    calls_before = len(scripted_default.history)
    graph = run(cli, "--process", "graph", "--full-refresh")
    assert graph.code == 0, graph.err
    summary = graph.json
    assert summary["process"] == "graph"
    assert summary["items"]["loaded"] == first.json["items"]["loaded"] == len(sequential)
    assert rows(tmp_path) == sequential
    # one transform call per item, then the run's one digest (the publisher's load phase is not a graph node)
    made = scripted_default.history[calls_before:]
    assert [c.task for c in made] == ["transform"] * summary["items"]["extracted"] + ["load"]
    db = sqlite3.connect(isolated_state / "ledger.db")
    memo = db.execute("SELECT COUNT(*), COUNT(DISTINCT item_id) FROM graph_outputs WHERE run_id=?",
                      (summary["run_id"],)).fetchone()
    assert memo == (len(sequential), len(sequential))
    routes = [json.loads(r[0]) for r in db.execute("SELECT route_json FROM graph_items WHERE run_id=?",
                                                    (summary["run_id"],))]
    assert routes and all(r == ["transform", "validate", "land"] for r in routes)
    # landed items' threads are pruned: the checkpoint store holds none of this run
    saver = sqlite3.connect(isolated_state / "graph_checkpoints.db")
    assert saver.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id LIKE ?",
                         (summary["run_id"] + ":%",)).fetchone() == (0,)


def test_graph_without_langgraph_exits_2_with_the_install_command(project_dir: Path, cli,  # type: ignore[no-untyped-def]
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    edit_config(project_dir / "config" / "crews.yaml", "  process: sequential\n", "  process: graph\n")
    monkeypatch.setitem(sys.modules, "langgraph", None)
    result = cli("validate")
    assert result.code == 2
    assert "crews.yaml" in result.err and "process" in result.err and 'pip install -e ".[graph]"' in result.err
    assert cli("run", "--model", "scripted/sample").code == 2
