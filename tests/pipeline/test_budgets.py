"""Budgets are exact: ``--max-llm-calls N`` never lets more than N model calls start, whatever the concurrency,
batch size and items per call; the run ends ``stopped`` (exit 3) and ``resume`` finishes it with no item done twice.

The model is scripted (its ``history`` is every call that reached it); DuckDB and the ledger are real. The inbox
is cut to 10 items so the 18 cases stay fast.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest
from yaml_edit import edit_config

ITEMS = 10


def half_the_calls(batch_size: int, items_per_call: int) -> int:
    """A budget the run cannot finish its items in: half its transform calls (one per part of a batch). The run's
    one digest call comes after the last item lands; a budget that leaves no room for it only makes code write the
    digest (tested in tests/pipeline/test_outcome.py)."""
    sizes = [min(batch_size, ITEMS - start) for start in range(0, ITEMS, batch_size)]
    calls = sum(-(-size // items_per_call) if items_per_call < size else 1 for size in sizes)
    return max(1, calls // 2)


def small_inbox(project_dir: Path, batch_size: int, items_per_call: int) -> None:
    """The first ``ITEMS`` messages of the shipped inbox, and the crew's batch size and items per call."""
    for path in sorted((project_dir / "data" / "inbox").iterdir())[ITEMS:]:
        path.unlink()
    crews = project_dir / "config" / "crews.yaml"
    edit_config(crews, "  batch_size: 10\n  items_per_call: 1 ",
                f"  batch_size: {batch_size}\n  items_per_call: {items_per_call} ")


def table_rows(tmp_path: Path) -> tuple[int, int]:
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*), count(DISTINCT item_id) FROM etlcrew.tickets").fetchone()


def ledger_states(state: Path) -> dict[str, int]:
    with sqlite3.connect(state / "ledger.db") as db:
        rows = db.execute("SELECT state, count(*) FROM items WHERE crew='support_inbox' GROUP BY state").fetchall()
    return dict(rows)


def ledger_attempts(state: Path, run_id: str) -> int:
    with sqlite3.connect(state / "ledger.db") as db:
        return db.execute("SELECT count(*) FROM model_calls WHERE run_id=?", (run_id,)).fetchone()[0]


@pytest.mark.parametrize("items_per_call", [1, 5])
@pytest.mark.parametrize("batch_size", [1, 5, 10])
@pytest.mark.parametrize("concurrency", [1, 2, 8])
def test_max_llm_calls_is_never_exceeded_and_resume_finishes_without_redoing_an_item(  # type: ignore[no-untyped-def]
        project_dir: Path, scripted, cli, tmp_path: Path, isolated_state: Path, concurrency: int, batch_size: int,
        items_per_call: int) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    small_inbox(project_dir, batch_size, items_per_call)
    budget = half_the_calls(batch_size, items_per_call)
    model = scripted("budget", default=sample_answer)
    stopped = cli("run", "--model", "scripted/budget", "--concurrency", str(concurrency),
                  "--max-llm-calls", str(budget), "--json")
    assert stopped.code == 3, stopped.err
    summary = stopped.json
    run_id = summary["run_id"]
    assert len(model.history) <= budget, "no call beyond the budget reached the model"
    assert ledger_attempts(isolated_state, run_id) == len(model.history) == summary["llm"]["calls"]
    assert summary["status"] == "stopped"
    assert summary["items"]["pending"] > 0 and summary["items"]["quarantined"] == 0, "stopped items stay pending"
    assert summary["items"]["extracted"] == ITEMS
    assert f"spent {len(model.history)} calls of {budget}" in summary["error"]
    assert f"python main.py resume {run_id} --max-llm-calls {2 * budget}" in summary["error"]
    if summary["items"]["loaded"]:
        assert any(path.endswith("support_inbox.duckdb") for path in summary["outputs"]), "what landed is listed"
        assert table_rows(tmp_path)[0] == summary["items"]["loaded"]

    done = cli("resume", run_id, "--max-llm-calls", "1000", "--json")
    assert done.code == 0, done.err
    finished = done.json
    assert finished["status"] == "succeeded" and finished["items"]["loaded"] == ITEMS
    assert table_rows(tmp_path) == (ITEMS, ITEMS), "every item loaded once"
    assert ledger_states(isolated_state) == {"loaded": ITEMS}
    spent = len(model.history)
    assert finished["llm"]["calls"] == spent, "every call made is counted once, across the resume"

    clean = scripted("clean", default=sample_answer)
    again = cli("run", "--model", "scripted/clean", "--concurrency", str(concurrency), "--full-refresh", "--json")
    assert again.code == 0, again.err
    assert spent == len(clean.history), "the stopped-and-resumed run asked the model for nothing twice"


def test_max_tokens_stops_at_the_first_call_that_crosses_it(  # type: ignore[no-untyped-def]
        project_dir: Path, scripted, cli, isolated_state: Path) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    small_inbox(project_dir, 5, 1)
    scripted("tokens", default=sample_answer)
    result = cli("run", "--model", "scripted/tokens", "--concurrency", "1", "--max-tokens", "3000", "--json")
    assert result.code == 3, result.err
    summary = result.json
    llm = summary["llm"]
    spent = llm["prompt_tokens"] + llm["completion_tokens"]
    assert spent >= 3000 and summary["status"] == "stopped"
    assert "budget max_tokens reached" in summary["error"] and f"{spent:,} tokens of 3,000" in summary["error"]
    with sqlite3.connect(isolated_state / "ledger.db") as db:
        per_call = [p + c for p, c in db.execute("SELECT prompt_tokens, completion_tokens FROM model_calls "
                                                  "WHERE run_id=? ORDER BY id", (summary["run_id"],))]
    assert sum(per_call[:-1]) < 3000 <= sum(per_call), "one call at a time: the last call is the one that crossed"
    resumed = cli("resume", summary["run_id"], "--max-tokens", "1000000", "--json")
    assert resumed.code == 0 and resumed.json["items"]["loaded"] == ITEMS


def test_max_seconds_lets_no_new_call_start(project_dir: Path, scripted, cli) -> None:  # type: ignore[no-untyped-def]
    import time

    from etlcrew.model_runtime.scripted import sample_answer

    small_inbox(project_dir, 5, 1)

    def slow(call):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        return sample_answer(call)

    model = scripted("slow", default=slow)
    result = cli("run", "--model", "scripted/slow", "--concurrency", "1", "--max-seconds", "1", "--json")
    assert result.code == 3, result.err
    summary = result.json
    assert summary["status"] == "stopped" and "budget max_seconds reached" in summary["error"]
    assert len(model.history) < 2 * ITEMS and summary["items"]["pending"] > 0


def test_the_reservation_refuses_the_call_after_the_one_that_crossed_a_limit() -> None:
    from etlcrew.pipeline.control import Budget, RunControl

    now, tokens = [0.0], [0]
    control = RunControl(Budget(max_tokens=100, max_seconds=10), lambda: (0, tokens[0]), spent_before=(3, 40, 2.0),
                         clock=lambda: now[0])
    assert control.reserve_call() and control.spent().calls == 4, "a resumed run counts what it spent before"
    tokens[0] = 59
    assert control.reserve_call() and control.budget_stop is None
    tokens[0] = 60  # the call in flight finished and crossed max_tokens: the next one does not start
    assert not control.reserve_call() and control.budget_stop == "max_tokens" and control.stop_requested()
    assert not control.reserve_call() and control.spent().calls == 5
    clock = RunControl(Budget(max_seconds=10), lambda: (0, 0), spent_before=(0, 0, 2.0), clock=lambda: now[0])
    now[0] = 7.9
    assert clock.reserve_call()
    now[0] = 8.0
    assert not clock.reserve_call() and clock.budget_stop == "max_seconds"
    calls = RunControl(Budget(max_llm_calls=2), lambda: (0, 0))
    assert [calls.reserve_call() for _ in range(4)] == [True, True, False, False]


def test_ray_workers_reserve_from_one_gate_and_the_driver_continues_from_their_count() -> None:
    """``BudgetGate`` is the actor Ray workers reserve from (a plain object here: Ray only hosts it); the driver
    adds what the tasks reserved, and a limit hit there stops the driver's run too."""
    from etlcrew.pipeline.control import Budget, RunControl
    from etlcrew.pipeline.ray_budget import BudgetGate

    driver = RunControl(Budget(max_llm_calls=5, max_tokens=1000), lambda: (0, 0), spent_before=(2, 0, 0.0))
    gate = BudgetGate(driver.budget, (driver.spent().calls, driver.spent().tokens, driver.spent().seconds))
    assert [gate.reserve() for _ in range(4)] == [True, True, True, False], "2 spent before, 3 left for workers"
    assert gate.budget_stop() == "max_llm_calls"
    assert driver.budget_reached() is None, "the driver learns it when it commits the tasks"
    driver.count_remote(2)
    driver.count_remote(1, gate.budget_stop())
    assert driver.spent().calls == 5 and driver.budget_stop == "max_llm_calls" and driver.stop_requested()
    assert not driver.reserve_call(), "the run's digest does not start either"
    tokens = BudgetGate(Budget(max_tokens=100), (0, 40, 0.0))
    assert tokens.reserve()
    tokens.add_tokens(60)  # the call in flight crossed max_tokens: no new one starts on any worker
    assert not tokens.reserve() and tokens.budget_stop() == "max_tokens"


def test_a_run_stopped_under_the_old_status_name_reads_as_stopped_and_resumes(  # type: ignore[no-untyped-def]
        project_dir: Path, scripted, cli, isolated_state: Path) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    small_inbox(project_dir, 5, 5)
    scripted("old", default=sample_answer)
    code, out, err = cli("run", "--model", "scripted/old", "--max-llm-calls", "1")
    run_id = cli("runs", "--json").json[0]["run_id"]
    assert code == 3 and "status stopped" in out
    assert "stopped: budget max_llm_calls reached: spent 1 calls of 1" in " ".join(err.split())
    assert f"python main.py resume {run_id} --max-llm-calls 2" in " ".join(err.split())
    with sqlite3.connect(isolated_state / "ledger.db") as db:  # as releases before 'stopped' wrote it
        db.execute("UPDATE runs SET status='stopped-by-budget' WHERE run_id=?", (run_id,))
    listed = cli("runs", "--json").json[0]
    assert (listed["status"], listed["resumable"]) == ("stopped", True)
    assert cli("show", run_id, "--json").json["resume"] == f"python main.py resume {run_id}"
    assert cli("resume", run_id, "--max-llm-calls", "100", "--json").code == 0
