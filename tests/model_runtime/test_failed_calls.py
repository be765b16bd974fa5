"""One failed attempt is one count, one ledger row and one message: a stub server that answers 500 to its first
calls, reached over real HTTP by CrewAI's OpenAI provider (which reports each failure twice)."""

from __future__ import annotations

import json
from pathlib import Path

from openai_stub import StubOpenAI

from etlcrew.cli import main

FAILURES = 3


def test_each_failed_attempt_is_counted_once_everywhere(project_dir: Path, capsys, isolated_state: Path) -> None:  # type: ignore[no-untyped-def]
    server = StubOpenAI(fail_first=FAILURES)
    try:
        code = main(["run", "--model", "openai/stub", "--base-url", server.url, "--json"])
        run = json.loads(capsys.readouterr().out)
    finally:
        server.close()
    assert code == 0 and server.failed == FAILURES
    assert run["llm"]["failed_calls"] == FAILURES
    assert run["llm"]["calls"] == len(server.requests) - FAILURES
    assert main(["show", run["run_id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["llm"]["failed_calls"] == FAILURES
    from ledger import open_ledger

    ledger = open_ledger(isolated_state)
    try:
        failed = [c for c in ledger.calls(run["run_id"]) if c["error"]]
    finally:
        ledger.close()
    assert len(failed) == FAILURES and all(c["latency_ms"] is not None for c in failed)
