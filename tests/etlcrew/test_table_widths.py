"""``runs`` and ``show`` read well at 80 and 120 columns: no line is wider than the terminal and the key columns
(run id, crew, status, start, cost; phase, agent, task, calls, tokens) are whole, never cut with "…"."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def runs_of_two_crews(project_dir: Path, scripted, cli) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    from etlcrew.model_runtime.scripted import sample_answer

    scripted("widths", default=sample_answer)
    brief = cli("run", "research_brief", "--model", "scripted/widths", "--json")
    stopped = cli("run", "--model", "scripted/widths", "--max-llm-calls", "2", "--json")
    assert brief.code == 0 and stopped.code == 3, brief.err + stopped.err
    return [brief.json, stopped.json]


@pytest.mark.parametrize("width", [80, 120])
def test_runs_and_show_fit_the_terminal_with_their_key_columns_whole(  # type: ignore[no-untyped-def]
        runs_of_two_crews: list[dict], cli, monkeypatch, width: int) -> None:  # type: ignore[type-arg]
    monkeypatch.setenv("COLUMNS", str(width))
    listed = cli("runs")
    assert listed.code == 0
    lines = listed.out.splitlines()
    assert all(len(line) <= width for line in lines), lines
    assert "…" not in listed.out
    records = {r["run_id"]: r for r in cli("runs", "--json").json}
    for run in runs_of_two_crews:
        line = next(line for line in lines if run["run_id"] in line)
        record = records[run["run_id"]]
        started = record["started_at"][5:16].replace("T", " ")
        for cell in (run["crew"], run["status"], started, "$0"):
            assert f" {cell} " in f" {line} ", (cell, line)
    header = lines[0].split()
    assert header[:5] == ["run", "crew", "status", "started", "UTC"] and header[-1] == "cost"
    if width >= 120:
        assert {"duration", "loaded", "pending", "calls"} <= set(header)

    for run in runs_of_two_crews:
        shown = cli("show", run["run_id"])
        assert shown.code == 0
        table = [line for line in shown.out.splitlines() if line.startswith(("phase ", "transform ", "extract ",
                                                                             "load "))]
        assert table and all(len(line) <= width for line in table), table
        assert "…" not in "\n".join(table)
        details = cli("show", run["run_id"], "--json").json
        for phase in details["phases"]:
            for agent in phase["agents"]:
                row = next(line for line in table if line.startswith(phase["phase"] + " ")
                           and f" {agent['task']} " in line)
                for cell in (agent["agent"], str(agent["calls"]), str(agent["prompt_tokens"])):
                    assert f" {cell} " in f" {row} ", (cell, row)
