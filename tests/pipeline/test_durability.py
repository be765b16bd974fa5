"""Retries, fallbacks, the failure breaker, budgets and resume on the default crew, in-process.

The model is scripted (and, for the fault tests, wrapped by the seeded ``FaultyLLM``); DuckDB, the ledger and
the report are real. Backoff is set to 0 in the crew's ``retry:`` so the tests do not sleep.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest
from yaml_edit import edit_config


def set_crew_keys(project_dir: Path, text: str) -> None:
    """Add YAML keys (two-space indented lines) to the support_inbox crew."""
    anchor = "  batch_size: 10\n"
    edit_config(project_dir / "config" / "crews.yaml", anchor, anchor + text)


def ledger_rows(state: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(state / "ledger.db") as db:
        return db.execute(sql).fetchall()


def quarantine_rows(tmp_path: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "tickets__quarantine" not in tables:
            return []
        return con.execute("SELECT item_id, reason FROM etlcrew.tickets__quarantine").fetchall()


@pytest.fixture
def fast_retries(project_dir: Path) -> Path:
    set_crew_keys(project_dir, "  retry:\n    backoff_s: 0\n    max_consecutive_failures: 50\n")
    return project_dir


def test_twenty_percent_faults_still_end_with_every_item_loaded_or_quarantined(
        fast_retries: Path, scripted, cli, tmp_path: Path, isolated_state: Path) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.faults import FaultyLLM
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer, unregister_scripted

    faulty = FaultyLLM(ScriptedLLM(default=sample_answer), rate=0.2, seed=7)
    register_scripted("faulty", faulty)
    try:
        result = cli("run", "--model", "scripted/faulty", "--batch-size", "5", "--json")
    finally:
        unregister_scripted("faulty")
    assert result.code == 0, result.err
    summary = result.json
    items = summary["items"]
    assert items["extracted"] == 30 and items["pending"] == 0
    assert items["loaded"] + items["quarantined"] == 30
    assert sum(faulty.faults.values()) >= 5, f"too few faults injected to mean anything: {faulty.faults}"
    assert len(faulty.faults) >= 3, "several kinds of fault were injected"
    quarantined = quarantine_rows(tmp_path)
    assert len(quarantined) == items["quarantined"]
    assert all(reason.strip() for _, reason in quarantined), "every quarantined item says why"
    retried = ledger_rows(isolated_state, "SELECT count(*) FROM model_calls WHERE attempt > 1")[0][0]
    failed = ledger_rows(isolated_state, "SELECT count(*) FROM model_calls WHERE error IS NOT NULL")[0][0]
    assert retried > 0 and failed > 0, "every attempt, failed or retried, is in the ledger"
    assert summary["llm"]["failed_calls"] == failed


def test_fallback_model_serves_when_the_primary_keeps_failing(
        fast_retries: Path, scripted, cli, isolated_state: Path) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    set_crew_keys(fast_retries, "  fallback_models: [scripted/backup]\n")
    broken = scripted("broken", default=PermissionError("401 invalid api key"), model="broken-model")
    backup = scripted("backup", default=sample_answer, model="backup-model")
    code, out, err = cli("run", "--model", "scripted/broken")
    assert code == 0, err
    assert "30 loaded" in out
    assert "falling back to scripted/backup" in err
    assert len(broken.history) > 0 and len(backup.history) > 0
    rows = ledger_rows(isolated_state, "SELECT model, error IS NULL, count(*) FROM model_calls GROUP BY 1, 2")
    assert {(model, ok) for model, ok, _ in rows} == {("broken-model", 0), ("backup-model", 1)}


def test_a_dead_model_fails_the_run_fast_and_it_resumes_when_the_model_is_back(
        project_dir: Path, scripted, cli, isolated_state: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    set_crew_keys(project_dir, "  retry:\n    backoff_s: 0\n    attempts: 2\n    max_consecutive_failures: 4\n")
    dead = scripted("flaky", default=ConnectionError("connection refused"))
    failed = cli("run", "--model", "scripted/flaky", "--json")
    assert failed.code == 1
    assert "4 model calls failed in a row" in failed.err or "in a row" in failed.err
    summary = failed.json
    assert summary["status"] == "failed"
    assert len(dead.history) <= 6, "the breaker stops the run instead of failing every batch"
    (status,) = ledger_rows(isolated_state, "SELECT status FROM runs")[0]
    assert status == "failed"
    scripted("flaky", default=sample_answer)  # the endpoint is back
    resumed = cli("resume", summary["run_id"], "--json")
    assert resumed.code == 0, resumed.err
    assert resumed.json["status"] == "succeeded" and resumed.json["items"]["loaded"] == 30


def test_budget_stops_cleanly_and_a_larger_budget_resumes_without_redoing_work(
        project_dir: Path, scripted, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    model = scripted("budget", default=sample_answer)
    result = cli("run", "--model", "scripted/budget", "--batch-size", "5", "--concurrency", "1",
                 "--max-llm-calls", "6", "--json")
    assert result.code == 3, result.err
    stopped = result.json
    assert stopped["status"] == "stopped"
    assert 0 < stopped["items"]["loaded"] < 30 and stopped["items"]["pending"] > 0
    assert "budget max_llm_calls reached: spent 6 calls of 6" in stopped["error"]
    again = cli("resume", stopped["run_id"], "--max-llm-calls", "6", "--json")
    assert again.code == 3, again.err
    assert again.json["status"] == "stopped", "the budget counts what the run spent before"
    result = cli("resume", stopped["run_id"], "--max-llm-calls", "1000", "--json")
    assert result.code == 0, result.err
    done = result.json
    assert done["status"] == "succeeded" and done["items"]["loaded"] == 30
    assert done["llm"]["calls"] == len(model.history), "every call made is counted once, across resumes"
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        rows, keys = con.execute("SELECT count(*), count(DISTINCT item_id) FROM etlcrew.tickets").fetchone()
    assert rows == keys == 30
    clean = cli("run", "--model", "scripted/budget", "--batch-size", "5", "--full-refresh", "--json")
    assert clean.code == 0, clean.err
    assert clean.json["llm"]["calls"] == done["llm"]["calls"], "the stopped-and-resumed run redid no batch"


def test_resume_refuses_a_changed_config_unless_forced(project_dir: Path, scripted, cli) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    scripted("cfg", default=sample_answer)
    result = cli("run", "--model", "scripted/cfg", "--max-llm-calls", "3", "--concurrency", "1", "--json")
    assert result.code == 3
    stopped = result.json
    edit_config(project_dir / "config" / "tasks.yaml", "Take every value from the item's own text",
                "Take each value from the item's own text")
    code, _, err = cli("resume", stopped["run_id"])
    assert code == 2
    assert "changed since run" in err and "--force" in err and "Traceback" not in err
    forced = cli("resume", stopped["run_id"], "--force", "--max-llm-calls", "1000", "--json")
    assert forced.code == 0, forced.err
    assert forced.json["status"] == "succeeded"


def test_unknown_and_finished_runs(project_dir: Path, scripted, cli) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    code, _, err = cli("resume", "01NOSUCHRUN")
    assert code == 2
    assert "no run '01NOSUCHRUN'" in err
    scripted("done", default=sample_answer)
    first = cli("run", "--model", "scripted/done", "--json")
    assert first.code == 0
    summary = first.json
    again = cli("resume", summary["run_id"][:20], "--json")
    assert again.code == 0 and again.json["status"] == "succeeded" and again.json["items"] == summary["items"]


def test_run_json_shape(project_dir: Path, scripted, cli, isolated_state: Path) -> None:  # type: ignore[no-untyped-def]
    """``run --json`` prints exactly one object, with these keys and types (scripts parse it)."""
    from etlcrew.model_runtime.scripted import sample_answer

    scripted("shape", default=sample_answer)
    code, out, _ = cli("run", "--model", "scripted/shape", "--json")
    assert code == 0
    summary = json.loads(out)  # one document and nothing else
    assert set(summary) == {"run_id", "crew", "status", "items", "llm", "outputs", "duration_s", "process", "models",
                            "outcome"}
    assert set(summary["outcome"]) == {"digest", "action_item_ids", "digest_source", "held_item_ids", "note"}
    assert summary["outcome"]["digest_source"] in ("model", "code") and isinstance(summary["outcome"]["digest"], str)
    assert set(summary["items"]) == {"extracted", "loaded", "quarantined", "skipped", "review", "pending"}
    assert set(summary["llm"]) == {"calls", "failed_calls", "prompt_tokens", "completion_tokens", "cost_usd"}
    assert all(isinstance(v, int) for v in summary["items"].values())
    assert isinstance(summary["llm"]["cost_usd"], float) and isinstance(summary["duration_s"], float)
    assert summary["status"] in ("succeeded", "partial") and summary["models"] == ["scripted/shape"]
    assert len(summary["run_id"]) == 26 and all(Path(p).exists() for p in summary["outputs"])
