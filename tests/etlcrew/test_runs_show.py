"""``runs`` and ``show`` over real runs of the default crew (scripted model, real ledger and DuckDB)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from yaml_edit import edit_config, with_researcher

from etlcrew.cli import main

RUN_KEYS = {"run_id", "crew", "status", "started_at", "finished_at", "duration_s", "process", "models", "resumed",
            "items", "llm", "error", "resumable"}
SHOW_KEYS = (RUN_KEYS - {"resumable"}) | {"inputs", "phases", "batches", "quarantined", "review", "webhook_deliveries",
                                          "outputs", "resume"}
METRICS = {"calls", "failed_calls", "retries", "prompt_tokens", "completion_tokens", "cost_usd", "avg_latency_ms",
           "max_latency_ms"}


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, object]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_empty_ledger_is_a_friendly_line(capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:
    assert main(["runs"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no runs yet" in captured.err and "python main.py run" in captured.err
    assert cli_json(["runs"], capsys) == (0, [])
    assert not (isolated_state / "ledger.db").exists(), "reading creates no state"
    assert main(["show", "01NOSUCHRUN"]) == 2
    assert "no run '01NOSUCHRUN'" in capsys.readouterr().err


@pytest.fixture
def two_runs(project_dir: Path, scripted, capsys: pytest.CaptureFixture[str]) -> tuple[dict, dict]:  # type: ignore[no-untyped-def,type-arg]
    """A finished run with retries, failed calls and a quarantined item; then one stopped by its budget."""
    from etlcrew.model_runtime.faults import FaultyLLM
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer, unregister_scripted

    crews = project_dir / "config" / "crews.yaml"
    edit_config(crews, "  batch_size: 10\n",
                "  batch_size: 10\n  retry:\n    backoff_s: 0\n    max_consecutive_failures: 50\n")
    with_researcher(project_dir)  # three phases, so show has a table per phase
    (project_dir / "data" / "inbox" / "9999-empty.eml").write_text("")
    register_scripted("faulty", FaultyLLM(ScriptedLLM(default=sample_answer), rate=0.2, seed=7))
    try:
        code, done = cli_json(["run", "--model", "scripted/faulty", "--batch-size", "5"], capsys)
    finally:
        unregister_scripted("faulty")
    assert code == 0
    scripted("steady", default=sample_answer)
    code, stopped = cli_json(["run", "--model", "scripted/steady", "--full-refresh", "--max-llm-calls", "3",
                              "--concurrency", "1"], capsys)
    assert code == 3
    return done, stopped  # type: ignore[return-value]


def test_runs_newest_first_then_show_stopped_and_crashed_runs(
        two_runs: tuple[dict, dict], capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:  # type: ignore[type-arg]
    done, stopped = two_runs
    code, runs = cli_json(["runs"], capsys)
    assert code == 0 and isinstance(runs, list)
    assert [r["run_id"] for r in runs] == [stopped["run_id"], done["run_id"]]
    for record, summary in zip(runs, (stopped, done), strict=True):
        assert set(record) == RUN_KEYS
        assert record["items"] == summary["items"] and record["llm"] == summary["llm"]
        assert record["status"] == summary["status"] and record["models"] == summary["models"]
    assert [r["resumable"] for r in runs] == [True, False]
    assert cli_json(["runs", "--limit", "1"], capsys)[1][0]["run_id"] == stopped["run_id"]  # type: ignore[index]
    assert cli_json(["runs", "--crew", "research_brief"], capsys) == (0, [])
    assert main(["runs"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:3] == ["run", "crew", "status"]
    assert stopped["run_id"] in lines[1] and "stopped-by-budget" in lines[1]
    assert done["run_id"] in lines[2] and "succeeded" not in lines[1]
    assert "━" not in captured.out and "│" not in captured.out, "plain columns when piped"
    assert "resume" in captured.err
    _stopped_and_crashed(stopped, capsys, isolated_state)


def test_show_a_run_phase_by_phase(two_runs: tuple[dict, dict], capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[type-arg]
    done, _ = two_runs
    code, shown = cli_json(["show", done["run_id"][:22].lower()], capsys)  # a prefix, any case
    assert code == 0 and isinstance(shown, dict)
    assert set(shown) == SHOW_KEYS
    assert shown["run_id"] == done["run_id"] and shown["resume"] is None
    assert shown["items"] == done["items"] and shown["llm"] == done["llm"] and shown["outputs"] == done["outputs"]
    assert set(shown["inputs"]) == {"audience", "purpose"}
    phases = shown["phases"]
    assert [p["phase"] for p in phases][:3] == ["extract", "transform", "load"]
    for phase in phases:
        assert METRICS | {"phase", "batches_done", "agents"} == set(phase)
        for agent in phase["agents"]:
            assert METRICS | {"agent", "task", "models", "errors"} == set(agent)
    llm = done["llm"]
    for key in ("calls", "failed_calls", "prompt_tokens", "completion_tokens"):
        assert sum(p[key] for p in phases) == llm[key], f"per-phase {key} add up to the run's"
    assert sum(p["retries"] for p in phases) > 0
    errors = [e for p in phases for a in p["agents"] for e in a["errors"]]
    assert errors and all(0 < len(e["error"]) <= 200 and e["count"] >= 1 for e in errors)
    assert phases[0]["batches_done"] == 6 and phases[0]["agents"][0]["agent"] == "Researcher"
    assert shown["batches"] == {"landed": 6}
    assert shown["quarantined"] == [{"item_id": "inbox:9999-empty.eml", "source": "inbox", "reason": "empty file"}]
    assert shown["webhook_deliveries"] == 0
    assert main(["show", done["run_id"]]) == 0
    text = capsys.readouterr().out
    assert f"run {done['run_id']}  crew support_inbox  status partial" in text
    for word in ("extract", "transform", "load", "Researcher", "errors:", "quarantined (", "9999-empty.eml"):
        assert word in text, word


def _stopped_and_crashed(stopped: dict, capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:  # type: ignore[type-arg]
    assert cli_json(["show", stopped["run_id"]], capsys)[0] == 0
    _, shown = cli_json(["show", stopped["run_id"]], capsys)
    assert shown["status"] == "stopped-by-budget" and "max_llm_calls" in shown["error"]  # type: ignore[index]
    assert shown["resume"] == f"python main.py resume {stopped['run_id']}"  # type: ignore[index]
    assert main(["show", stopped["run_id"]]) == 0
    assert f"resume: python main.py resume {stopped['run_id']}" in capsys.readouterr().out
    assert main(["show", "01"]) == 2
    assert "ambiguous" in capsys.readouterr().err
    with sqlite3.connect(isolated_state / "ledger.db") as db:  # as a SIGKILLed run leaves it
        db.execute("UPDATE runs SET status='running', pid=999999999, finished_at=NULL WHERE run_id=?",
                   (stopped["run_id"],))
    _, runs = cli_json(["runs"], capsys)
    assert runs[0]["status"] == "running" and runs[0]["resumable"] is True  # type: ignore[index]
    _, shown = cli_json(["show", stopped["run_id"]], capsys)
    assert shown["resume"] and shown["items"]["loaded"] > 0, "a running run counts what it landed"  # type: ignore[index]
    assert shown["llm"]["calls"] == stopped["llm"]["calls"]  # type: ignore[index]
    assert main(["show", stopped["run_id"]]) == 0
    assert "running (process gone)" in capsys.readouterr().out


def test_runs_prints_whole_run_ids_at_100_columns(two_runs: tuple[dict, dict], capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def, type-arg]
    from etlcrew import console

    monkeypatch.setenv("COLUMNS", "100")
    console.configure()
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    for run in two_runs:
        assert run["run_id"] in out, "a run id was cut"
