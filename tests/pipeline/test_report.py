"""The Markdown run report: deterministic counts, enum breakdowns, digest and quarantined items."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from etlcrew.pipeline.facts import breakdowns
from etlcrew.pipeline.records import QuarantineRow
from etlcrew.pipeline.report import report_path, write_report
from etlcrew.settings import Settings
from etlcrew.specs.datapath import ReportTarget, SchemaSpec

SCHEMA = SchemaSpec(table="tickets", fields={
    "category": {"type": "enum", "values": ["billing", "bug", "other"]},
    "urgency": {"type": "enum", "values": ["low", "urgent"], "required": False},
    "summary": {"type": "string"},
})
RECORDS = [
    {"item_id": "m:2", "category": "bug", "urgency": "urgent", "summary": "crash"},
    {"item_id": "m:1", "category": "bug", "urgency": None, "summary": "a | b"},
    {"item_id": "m:3", "category": "billing", "urgency": "low", "summary": "refund"},
]
QUARANTINED = [QuarantineRow("m:9", "mail", "category: Input should be 'billing'\nor 'bug'", "x", "y"),
               QuarantineRow("m:5", "mail", "empty file")]
AT = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
COUNTS = {"loaded": 3, "extracted": 6, "quarantined": 2, "skipped": 1, "batches": 2}


def test_breakdowns_follow_schema_order_with_zeros_and_none():
    assert breakdowns(RECORDS, SCHEMA) == {
        "category": [("billing", 1), ("bug", 2), ("other", 0)],
        "urgency": [("low", 1), ("urgent", 1), ("(none)", 1)],
    }


def test_report_content(tmp_path: Path):
    path = write_report(tmp_path / "out" / "r.md", "triage", "run-1", COUNTS, RECORDS, SCHEMA,
                        "  Two bugs, one refund.  ", QUARANTINED, generated_at=AT)
    text = path.read_text()
    assert text.startswith("# triage: run report\n")
    assert "- Run: `run-1`" in text and "- Generated: 2025-01-02T03:04:05+00:00" in text
    counts = text.split("## Counts")[1].split("##")[0]
    assert counts.strip().splitlines()[2:] == ["| extracted | 6 |", "| loaded | 3 |", "| review | 0 |",
                                               "| quarantined | 2 |",
                                               "| skipped | 1 |", "| batches | 2 |"]
    assert "## By category" in text and "| bug | 2 |" in text and "| other | 0 |" in text
    assert "## By urgency" in text and "| (none) | 1 |" in text
    assert "## Digest\n\nTwo bugs, one refund.\n" in text
    quarantine = text.split("## Quarantined (2)")[1]
    assert quarantine.index("m:5") < quarantine.index("m:9")
    assert "| `m:9` | mail | category: Input should be 'billing' or 'bug' |" in quarantine


def test_report_is_deterministic_and_handles_no_digest(tmp_path: Path):
    one = write_report(tmp_path / "a" / "r.md", "triage", "run-1", COUNTS, RECORDS, SCHEMA, None, QUARANTINED, AT)
    two = write_report(tmp_path / "b" / "r.md", "triage", "run-1", dict(reversed(COUNTS.items())),
                       list(reversed(RECORDS)), SCHEMA, None, list(reversed(QUARANTINED)), AT)
    assert one.read_text() == two.read_text()
    assert "_No digest was produced._" in one.read_text()
    empty = write_report(tmp_path / "c.md", "triage", "run-2", {}, [], SCHEMA, "", [], AT).read_text()
    assert "| extracted | 0 |" in empty and "_Nothing was quarantined._" in empty


def test_report_path(tmp_path: Path):
    settings = Settings(project_dir=tmp_path, config_dir=tmp_path / "config", state_dir=tmp_path / ".etlcrew",
                        output_dir=tmp_path / "output", model_cache_dir=tmp_path / "models")
    assert report_path(None, "triage", settings) == tmp_path / "output" / "triage-report.md"
    assert report_path(ReportTarget(type="report", path="docs/r.md"), "x", settings) == tmp_path / "docs" / "r.md"
