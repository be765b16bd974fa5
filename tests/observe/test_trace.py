"""The JSONL trace: one event per line, usable with jq, token totals equal to the ledger's."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def read_trace(state: Path, run_id: str) -> list[dict]:  # type: ignore[type-arg]
    path = state / "traces" / f"{run_id}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_trace_lines_cover_the_run_and_match_the_ledger(project_dir: Path, scripted, cli,  # type: ignore[no-untyped-def]
                                                        isolated_state: Path) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    scripted("trace", default=sample_answer)
    result = cli("run", "--model", "scripted/trace", "--json")
    assert result.code == 0
    summary = result.json
    events = read_trace(isolated_state, summary["run_id"])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    for kind in ("batch_started", "task_started", "agent_started", "llm_call", "phase_done", "batch_done", "landed"):
        assert kind in kinds, kind
    assert all(e["run_id"] == summary["run_id"] and e["time"] for e in events)
    calls = [e for e in events if e["type"] == "llm_call"]
    assert all(e["model"] and e["phase"] in ("extract", "transform", "load") for e in calls)
    assert all(e["batch"] >= 1 for e in calls if e["phase"] != "load")
    assert [e.get("batch") for e in calls if e["phase"] == "load"] == [None], "the run's one digest call"
    with sqlite3.connect(isolated_state / "ledger.db") as db:
        ledger = db.execute("SELECT count(*), sum(prompt_tokens), sum(completion_tokens) FROM model_calls "
                            "WHERE run_id = ? AND error IS NULL", (summary["run_id"],)).fetchone()
    in_trace = (len(calls), sum(e["prompt_tokens"] for e in calls), sum(e["completion_tokens"] for e in calls))
    assert in_trace == ledger
    assert ledger[0] == summary["llm"]["calls"] and ledger[1] == summary["llm"]["prompt_tokens"]
    assert events[-1]["detail"]["status"] == "succeeded"


def test_a_resumed_run_appends_to_its_trace(project_dir: Path, scripted, cli,  # type: ignore[no-untyped-def]
                                            isolated_state: Path) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    scripted("trace2", default=sample_answer)
    stopped = cli("run", "--model", "scripted/trace2", "--max-llm-calls", "2", "--concurrency", "1", "--json")
    assert stopped.code == 3
    run_id = stopped.json["run_id"]
    assert cli("resume", run_id, "--max-llm-calls", "1000", "--json").code == 0
    finished = [e for e in read_trace(isolated_state, run_id) if e["type"] == "run_finished"]
    assert [e["detail"]["status"] for e in finished] == ["stopped", "succeeded"]
