"""Records that look unread go to ``<table>__review`` with a reason, never to the table, and the run says
``partial``; the report never prints JSON fragments as its digest."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from etlcrew.pipeline.review import degenerate_items, low_confidence
from etlcrew.specs.datapath import SchemaSpec

SCHEMA = SchemaSpec.model_validate({"table": "t", "fields": {
    "category": {"type": "enum", "values": ["a", "b"]}, "summary": {"type": "string"}}})


def test_identical_records_for_three_items_are_degenerate() -> None:
    same = {"category": "a", "summary": "short"}
    records = {f"i:{n}": {"item_id": f"i:{n}"} | same for n in range(3)}
    assert set(degenerate_items(records, SCHEMA)) == {"i:0", "i:1", "i:2"}
    assert degenerate_items(dict(list(records.items())[:2]), SCHEMA) == {}, "two alike may be two alike items"


def test_long_free_text_repeated_across_items_is_degenerate_short_text_is_not() -> None:
    records = {"i:1": {"item_id": "i:1", "category": "a", "summary": "Same day double charge of 4 EUR."},
               "i:2": {"item_id": "i:2", "category": "b", "summary": "same day double  charge of 4 EUR."},
               "i:3": {"item_id": "i:3", "category": "b", "summary": "ok"},
               "i:4": {"item_id": "i:4", "category": "a", "summary": "ok"}}
    found = degenerate_items(records, SCHEMA)
    assert found == {"i:1": "summary repeated verbatim by i:2", "i:2": "summary repeated verbatim by i:1"}


def test_low_confidence_names_the_fields_below_the_threshold() -> None:
    assert low_confidence({"category": 0.41, "urgency": 0.93}, 0.6) == "low confidence (category 0.41 < 0.6)"
    assert low_confidence({"category": 0.41}, None) is None


@pytest.fixture
def one_summary(scripted):  # type: ignore[no-untyped-def]
    """A model that did not read its items: every record gets the same summary."""
    from etlcrew.model_runtime.scripted import sample_answer

    def answer(call):  # type: ignore[no-untyped-def]
        data = json.loads(sample_answer(call)) if call.response_model is not None else None
        if isinstance(data, dict) and "records" in data:
            for record in data["records"]:
                record["summary"] = "Same day double charge of 4 EUR."
            return json.dumps(data)
        return sample_answer(call)

    return scripted("repeats", default=answer)


def test_a_repeated_summary_sends_every_record_to_review_and_the_run_is_partial(  # type: ignore[no-untyped-def]
        project_dir: Path, one_summary, cli, tmp_path: Path) -> None:
    result = cli("run", "--model", "scripted/repeats", "--json")
    assert result.code == 0
    summary = result.json
    assert summary["status"] == "partial"
    items = summary["items"]
    assert (items["loaded"], items["review"], items["quarantined"]) == (0, 30, 0)
    db = tmp_path / "output" / "support_inbox.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'etlcrew'").fetchall()}
        held = con.execute("SELECT item_id, summary, review_reason FROM etlcrew.tickets__review").fetchall()
    assert "tickets" not in tables, "nothing reached the main table"
    assert len(held) == 30 and all("summary repeated verbatim" in reason for _, _, reason in held)
    report = Path(next(o for o in summary["outputs"] if o.endswith(".md"))).read_text()
    assert "## Held for review (30)" in report


def test_the_report_digest_is_prose_or_says_there_is_none() -> None:
    from etlcrew.pipeline.digest_check import readable_digest
    from etlcrew.pipeline.report import render_report

    assert readable_digest('{{ [{"item_{id}_{key}": 1') is None
    assert readable_digest("Three customers were double charged; refund them today.") is not None
    text = render_report("c", "r", {}, [], SCHEMA, readable_digest("[{"), [])
    assert "_No digest was produced._" in text and "[{" not in text
