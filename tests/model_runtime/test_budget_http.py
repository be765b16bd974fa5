"""The budget over real HTTP: CrewAI's OpenAI provider against a stub server on 127.0.0.1, many calls in flight;
the server, not our own counters, says how many calls were made. A failed attempt is a call too."""

from __future__ import annotations

from pathlib import Path

import duckdb
from openai_stub import StubOpenAI
from yaml_edit import edit_config

BUDGET = 9


def test_the_server_never_receives_more_calls_than_the_budget_and_resume_finishes(  # type: ignore[no-untyped-def]
        project_dir: Path, cli, tmp_path: Path) -> None:
    anchor = "  batch_size: 10\n"
    edit_config(project_dir / "config" / "crews.yaml", anchor, anchor + "  retry: {backoff_s: 0}\n")
    server = StubOpenAI(fail_first=2)
    try:
        stopped = cli("run", "--model", "openai/stub", "--base-url", server.url, "--concurrency", "8",
                      "--max-llm-calls", str(BUDGET), "--json")
        made = len(server.requests)
        assert stopped.code == 3, stopped.err
        summary = stopped.json
        assert made <= BUDGET and server.failed == 2, "the two failed attempts counted against the budget"
        assert summary["status"] == "stopped" and summary["items"]["quarantined"] == 0
        assert summary["llm"]["calls"] + summary["llm"]["failed_calls"] == made
        resumed = cli("resume", summary["run_id"], "--max-llm-calls", "1000", "--json")
    finally:
        server.close()
    assert resumed.code == 0, resumed.err
    done = resumed.json
    assert done["status"] == "succeeded" and done["items"]["loaded"] == done["items"]["extracted"]
    assert done["llm"]["calls"] + done["llm"]["failed_calls"] == len(server.requests)
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        rows, keys = con.execute("SELECT count(*), count(DISTINCT item_id) FROM etlcrew.tickets").fetchone()
    assert rows == keys == done["items"]["loaded"]
