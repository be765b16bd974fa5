"""The ledger's read side for ``runs``/``show``/the report chart, and the redaction of what it stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etlcrew.ledger import open_ledger
from etlcrew.ledger.deliveries import Enqueued

KEY = "sk-test-1234567890abcdef"


def _summary(run_id: str, **extra: object) -> dict[str, object]:
    return {"run_id": run_id, "status": "succeeded", "items": {"extracted": 2, "loaded": 2, "quarantined": 0,
                                                              "skipped": 0},
            "llm": {"calls": 1, "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 0.0}, **extra}


def test_call_breakdown_groups_in_sql(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    ledger.record_call("r1", "m", 100, 10, 20.0, None, agent="Researcher", task="extract", batch_no=1)
    ledger.record_call("r1", "m", 0, 0, 5.0, "Timeout: slow", agent="Researcher", task="extract", batch_no=2)
    ledger.record_call("r1", "m", 120, 12, 40.0, None, attempt=2, agent="Researcher", task="extract", batch_no=2)
    ledger.record_call("r1", "m", 300, 60, None, None, agent="Transformer", task="brief_transform", batch_no=1)
    ledger.record_call("r1", "m", 7, 7, 1.0, None)
    ledger.record_call("r2", "m", 999, 999, 1.0, None, agent="Researcher", task="extract")
    rows = ledger.call_breakdown("r1")
    assert [(r["task"], r["agent"]) for r in rows] == [("extract", "Researcher"), ("brief_transform", "Transformer"),
                                                        (None, None)]
    extract = rows[0]
    assert (extract["attempts"], extract["calls"], extract["failed_calls"], extract["retries"]) == (3, 2, 1, 1)
    assert (extract["prompt_tokens"], extract["completion_tokens"]) == (220, 22), "tokens of successful calls"
    assert (extract["latency_sum_ms"], extract["latency_n"], extract["max_latency_ms"]) == (65.0, 3, 40.0)
    assert rows[1]["latency_n"] == 0 and rows[1]["max_latency_ms"] is None
    assert ledger.call_errors("r1") == [{"task": "extract", "agent": "Researcher", "error": "Timeout: slow", "n": 1}]
    assert ledger.calls_by_phase("r1", {"brief_transform": "transform"}) == {
        "extract": {"calls": 2, "failed_calls": 1, "prompt_tokens": 220, "completion_tokens": 22},
        "transform": {"calls": 1, "failed_calls": 0, "prompt_tokens": 300, "completion_tokens": 60},
        "(no task)": {"calls": 1, "failed_calls": 0, "prompt_tokens": 7, "completion_tokens": 7},
    }
    totals = ledger.call_totals("r1")
    assert totals["prompt_tokens"] == sum(p["prompt_tokens"] for p in ledger.calls_by_phase("r1").values())


def test_batches_outcomes_deliveries_and_runs_by_crew(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    for run_id, crew in (("01A", "inbox"), ("01B", "brief"), ("01C", "inbox")):
        ledger.start_run(run_id, crew, {}, "cfg")
    assert [r["run_id"] for r in ledger.runs(10)] == ["01C", "01B", "01A"]
    assert [r["run_id"] for r in ledger.runs(10, crew="inbox")] == ["01C", "01A"]
    assert [r["run_id"] for r in ledger.runs(1, crew="inbox")] == ["01C"]
    for number in (1, 2, 3, -1):
        ledger.add_batch("01A", number, [(f"s:{number}", "h")])
    ledger.save_phase("01A", 1, "extract", "{}")
    ledger.save_phase("01A", 2, "extract", "{}")
    ledger.save_phase("01A", 1, "transform", "{}")
    ledger.save_outcome("01A", 1, json.dumps({"records": [], "quarantined": []}))
    ledger.save_outcome("01A", 2, json.dumps({"records": [{"item_id": "s:2"}], "quarantined": []}))
    ledger.save_outcome("01A", -1, json.dumps({"records": [], "quarantined": []}))
    ledger.mark_landed("01A", [2, -1])
    assert ledger.batch_counts("01A") == {"done": 1, "landed": 1, "running": 1}, "pseudo-batches left out"
    assert ledger.phase_counts("01A") == {"extract": 2, "transform": 1}
    assert [n for n, _ in ledger.outcomes("01A")] == [-1, 2]
    assert [n for n, _ in ledger.outcomes("01A", "done")] == [1]
    row = Enqueued("k1", "webhook:http://127.0.0.1:9/hook", "s:2", "h", {"item_id": "s:2"})
    ledger.enqueue("inbox", "01A", [row])
    ledger.enqueue("inbox", "01A", [row._replace(key="k2")])  # same target, item and content: enqueued once
    assert [r["status"] for r in ledger.open_deliveries("inbox", row.target)] == ["pending"]
    ledger.mark_delivered("k1", "01A", 1)
    ledger.enqueue("inbox", "01B", [row])
    assert ledger.open_deliveries("inbox", row.target) == [], "a delivered key is never enqueued again"
    assert ledger.delivered_count("01A") == ledger.delivered_count("01A", "webhook") == 1
    assert ledger.delivered_count("01B") == 0 and ledger.delivered_count("01A", "notify") == 0


def test_stored_text_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    url = "http://admin:hunter2secret@db.local/x"
    ledger = open_ledger(tmp_path)
    ledger.start_run("01A", "inbox", {"note": f"use {KEY}"}, "cfg", options={"base_url": url})
    ledger.record_call("01A", "m", 0, 0, 1.0, f"401 Incorrect API key provided: {KEY}")
    ledger.add_batch("01A", 1, [("s:1", "h")])
    ledger.save_phase("01A", 1, "extract", json.dumps({"finding": f"the mail quotes {KEY} and {url}"}))
    outcome = {"records": [], "quarantined": [{"item_id": "s:1", "source": "s", "reason": f"bad {url}",
                                               "raw_input": KEY, "raw_model_output": None}], "digest": KEY}
    ledger.save_outcome("01A", 1, json.dumps(outcome))
    ledger.record_items("inbox", "01A", "cfg", [("s:1", "h", "quarantined", f"bad {url}")])
    ledger.enqueue("inbox", "01A", [Enqueued("k", "webhook:https://hooks.local/x?token=abcdef123", "s:1", "h",
                                             {"note": f"the mail quotes {KEY}"})])
    ledger.mark_failed("k", "01A", 3, f"HTTP 500 from https://hooks.local/x?token=abcdef123 {KEY}", 3)
    ledger.finish_run(_summary("01A", error=f"failed at {url} with {KEY}"))
    stored = json.loads(ledger.outcomes("01A", "done")[0][1])
    assert stored["quarantined"][0]["reason"] == "bad http://admin:***@db.local/x", "still JSON, masked"
    assert json.loads(ledger.run("01A")["options_json"]) == {"base_url": "http://admin:***@db.local/x"}
    ledger.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert KEY.encode() not in raw and b"hunter2secret" not in raw and b"abcdef123" not in raw
    assert b"***" in raw
