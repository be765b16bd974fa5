"""``runs`` and ``show`` over real runs of the default crew (scripted model, real ledger and DuckDB)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from yaml_edit import edit_config, with_researcher

RUN_KEYS = {"run_id", "crew", "status", "started_at", "finished_at", "duration_s", "process", "models", "resumed",
            "reviewed", "items", "llm", "error", "resumable"}
SHOW_KEYS = (RUN_KEYS - {"resumable"}) | {"inputs", "phases", "batches", "quarantined", "review", "webhook_deliveries",
                                          "deliveries", "outcome", "outputs", "resume", "plan", "routes",
                                          "waiting"}
METRICS = {"calls", "failed_calls", "retries", "prompt_tokens", "completion_tokens", "cost_usd", "avg_latency_ms",
           "max_latency_ms"}


def test_empty_ledger_is_a_friendly_line(cli, isolated_state: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("runs")
    assert code == 0
    assert out == "" and "no runs yet" in err and "python main.py run" in err
    listed = cli("runs", "--json")
    assert (listed.code, listed.json) == (0, [])
    assert not (isolated_state / "ledger.db").exists(), "reading creates no state"
    code, _, err = cli("show", "01NOSUCHRUN")
    assert code == 2
    assert "no run '01NOSUCHRUN'" in err
    code, _, err = cli("show")
    assert code == 2 and "no run recorded yet" in err and "python main.py run" in err
    assert not (isolated_state / "ledger.db").exists(), "show without an id creates no state either"


@pytest.fixture
def two_runs(project_dir: Path, scripted, cli) -> tuple[dict, dict]:  # type: ignore[no-untyped-def,type-arg]
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
        done = cli("run", "--model", "scripted/faulty", "--batch-size", "5", "--json")
    finally:
        unregister_scripted("faulty")
    assert done.code == 0
    scripted("steady", default=sample_answer)
    stopped = cli("run", "--model", "scripted/steady", "--full-refresh", "--max-llm-calls", "10", "--concurrency", "1",
                  "--batch-size", "5", "--json")  # a batch of 5 is 7 calls: one lands, the next is stopped
    assert stopped.code == 3
    return done.json, stopped.json


def test_runs_newest_first_then_show_stopped_and_crashed_runs(
        two_runs: tuple[dict, dict], cli, isolated_state: Path) -> None:  # type: ignore[no-untyped-def, type-arg]
    done, stopped = two_runs
    listed = cli("runs", "--json")
    runs = listed.json
    assert listed.code == 0 and isinstance(runs, list)
    assert [r["run_id"] for r in runs] == [stopped["run_id"], done["run_id"]]
    for record, summary in zip(runs, (stopped, done), strict=True):
        assert set(record) == RUN_KEYS
        assert record["items"] == summary["items"] and record["llm"] == summary["llm"]
        assert record["status"] == summary["status"] and record["models"] == summary["models"]
    assert [r["resumable"] for r in runs] == [True, False]
    latest = cli("show", "--json")
    assert latest.code == 0 and latest.json["run_id"] == stopped["run_id"], "show without an id: the latest run"
    assert cli("runs", "--limit", "1", "--json").json[0]["run_id"] == stopped["run_id"]
    other = cli("runs", "--crew", "research_brief", "--json")
    assert (other.code, other.json) == (0, [])
    code, out, err = cli("runs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["run", "crew", "status"]
    assert stopped["run_id"] in lines[1] and "stopped" in lines[1]
    assert done["run_id"] in lines[2] and "succeeded" not in lines[1]
    assert "━" not in out and "│" not in out, "plain columns when piped"
    assert "resume" in err
    _stopped_and_crashed(stopped, cli, isolated_state)


def test_show_a_run_phase_by_phase(two_runs: tuple[dict, dict], cli) -> None:  # type: ignore[no-untyped-def, type-arg]
    done, _ = two_runs
    result = cli("show", done["run_id"][:22].lower(), "--json")  # a prefix, any case
    shown = result.json
    assert result.code == 0 and isinstance(shown, dict)
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
    # a batch whose kickoff hit an injected fault is redone item by item, without committing its extract
    assert 0 < phases[0]["batches_done"] <= 6 and phases[0]["agents"][0]["agent"] == "Researcher"
    assert shown["batches"] == {"landed": 6}
    assert shown["quarantined"] == [{"item_id": "inbox:9999-empty.eml", "source": "inbox", "reason": "empty file"}]
    assert shown["webhook_deliveries"] == 0 and shown["deliveries"] == []
    code, text, _ = cli("show", done["run_id"])
    assert code == 0
    assert f"run {done['run_id']}  crew support_inbox  status partial" in text
    for word in ("extract", "transform", "load", "Researcher", "errors:", "quarantined (", "9999-empty.eml"):
        assert word in text, word


def _stopped_and_crashed(stopped: dict, cli, isolated_state: Path) -> None:  # type: ignore[no-untyped-def, type-arg]
    result = cli("show", stopped["run_id"], "--json")
    assert result.code == 0
    shown = result.json
    assert shown["status"] == "stopped" and "max_llm_calls" in shown["error"]
    assert shown["resume"] == f"python main.py resume {stopped['run_id']}"
    code, out, _ = cli("show", stopped["run_id"])
    assert code == 0
    assert f"resume: python main.py resume {stopped['run_id']}" in out
    code, _, err = cli("show", "01")
    assert code == 2
    assert "ambiguous" in err
    for pattern in ("%", "_", "0%", "01_", "*", "0?"):  # never a LIKE or GLOB pattern
        for command in ("show", "resume"):
            code, _, err = cli(command, pattern)
            assert code == 2 and "not a run id" in err, (command, pattern)
    code, _, err = cli("show", stopped["run_id"][:-1] + "_")
    assert code == 2
    with sqlite3.connect(isolated_state / "ledger.db") as db:  # as a SIGKILLed run leaves it
        db.execute("UPDATE runs SET status='running', pid=999999999, finished_at=NULL WHERE run_id=?",
                   (stopped["run_id"],))
    runs = cli("runs", "--json").json
    assert runs[0]["status"] == "interrupted" and runs[0]["resumable"] is True
    code, out, err = cli("runs")
    assert code == 0 and "interrupted" in out and f"resume {stopped['run_id']}" in err
    shown = cli("show", stopped["run_id"], "--json").json
    assert shown["resume"] and shown["items"]["loaded"] > 0, "a running run counts what it landed"
    assert shown["llm"]["calls"] == stopped["llm"]["calls"]
    code, out, _ = cli("show", stopped["run_id"])
    assert code == 0
    assert "status interrupted" in out and f"resume: python main.py resume {stopped['run_id']}" in out


def test_runs_prints_whole_run_ids_at_100_columns(two_runs: tuple[dict, dict], cli, monkeypatch) -> None:  # type: ignore[no-untyped-def, type-arg]
    from etlcrew import console

    monkeypatch.setenv("COLUMNS", "100")
    console.configure()
    code, out, _ = cli("runs")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 100
    for run in two_runs:
        assert run["run_id"] in out, "a run id was cut"
