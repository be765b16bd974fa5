"""``process: graph`` with ``concurrency`` above 1: item threads advance at once, and every run lands the same
rows as a sequential run, each item once (real ledger, real DuckDB; the scripted model is the LLM).

Item threads once failed now and then when two advanced together (README, Process): the test runs the graph
twice, with an extract phase (two model calls per item), and checks that calls really overlapped.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import duckdb
from yaml_edit import edit_config, with_researcher

COLUMNS = "item_id, customer, product, category, urgency, sentiment, summary, requested_action"
RUNS = 2  # short for CI: in 22 trial runs, more repeats never caught what two missed
CONCURRENCY = 4
OVERLAP_WAIT_S = 30  # how long the first call waits for a second one (a bound on a hang, not a timing assert)


class Overlap:
    """Counts model calls in flight; a run's first call waits until a second one starts (or the bound passes),
    so items advanced one at a time show as ``most == 1``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.waited = False
        self.second = threading.Event()

    def reset(self) -> None:
        self.most, self.waited = 0, False
        self.second.clear()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            first, self.waited = not self.waited, True
            if self.now >= 2:
                self.second.set()
        if first:
            self.second.wait(OVERLAP_WAIT_S)

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


def rows(tmp_path: Path) -> list[tuple]:  # type: ignore[type-arg]
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT {COLUMNS} FROM etlcrew.tickets ORDER BY item_id").fetchall()


def test_graph_items_advance_concurrently_and_land_as_sequential(project_dir: Path, scripted, cli,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path, isolated_state: Path) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    with_researcher(project_dir)  # extract and transform: two nodes with a model call per item
    overlap = Overlap()

    def answer(call):  # type: ignore[no-untyped-def]
        if call.task == "load":  # the run's one digest, after every item landed
            return sample_answer(call)
        with overlap:
            return sample_answer(call)

    scripted("etl", default=answer)
    first = cli("run", "--model", "scripted/etl", "--json")
    assert first.code == 0, first.err
    sequential = rows(tmp_path)
    assert len(sequential) == 30

    edit_config(project_dir / "config" / "crews.yaml", "  process: sequential\n", "  process: graph\n")
    for attempt in range(RUNS):
        overlap.reset()
        graph = cli("run", "--model", "scripted/etl", "--full-refresh", "--concurrency", str(CONCURRENCY), "--json")
        assert graph.code == 0, f"graph run {attempt + 1}: {graph.err[-3000:]}"
        summary = graph.json
        assert summary["process"] == "graph" and summary["status"] == "succeeded"
        assert summary["items"]["loaded"] == 30 and summary["items"]["quarantined"] == 0
        assert overlap.most >= 2, f"graph run {attempt + 1}: items advanced one at a time"
        assert rows(tmp_path) == sequential, f"graph run {attempt + 1}: rows differ from the sequential run's"
        with sqlite3.connect(isolated_state / "ledger.db") as db:
            routes = db.execute("SELECT item_id, route_json FROM graph_items WHERE run_id=?",
                                (summary["run_id"],)).fetchall()
            batches = [r[0] for r in db.execute("SELECT items_json FROM batches WHERE run_id=? AND state='landed'",
                                                 (summary["run_id"],))]
        assert len(routes) == 30 and all(r == '["extract", "transform", "validate", "land"]' for _, r in routes)
        landed = [member[0] for items in batches for member in json.loads(items)]  # [item_id, hash]
        assert len(landed) == len(set(landed)) == 30, f"graph run {attempt + 1}: an item landed twice or not at all"
