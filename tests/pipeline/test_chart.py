"""The report's SVG chart: written next to the report, valid XML, labelled, deterministic, linked."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

from etlcrew.pipeline.chart import render_chart
from etlcrew.pipeline.report import write_report
from etlcrew.specs.datapath import SchemaSpec

SVG = "{http://www.w3.org/2000/svg}"
SCHEMA = SchemaSpec(table="tickets", fields={
    "category": {"type": "enum", "values": ["billing", "bug", "<other> & \"more\""]},
    "urgency": {"type": "enum", "values": ["low", "urgent"]},
    "summary": {"type": "string"},
})
RECORDS = [{"item_id": f"m:{i}", "category": c, "urgency": u, "summary": "s"}
           for i, (c, u) in enumerate([("bug", "urgent"), ("bug", "low"), ("billing", "low"), ("refund", None)])]
CALLS = {"extract": {"calls": 3, "failed_calls": 1, "prompt_tokens": 4006, "completion_tokens": 33},
         "transform": {"calls": 3, "failed_calls": 0, "prompt_tokens": 834, "completion_tokens": 1674}}
AT = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)


def texts(svg_path: Path) -> list[str]:
    root = ET.parse(svg_path).getroot()
    assert root.tag == f"{SVG}svg"
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_chart_next_to_the_report(tmp_path: Path) -> None:
    report = write_report(tmp_path / "out" / "triage-report.md", "triage", "run-1", {"loaded": 4}, RECORDS, SCHEMA,
                          "digest", [], AT, calls_by_phase=CALLS)
    chart = tmp_path / "out" / "triage-report.svg"
    assert chart.is_file() and chart.stat().st_size > 500
    labels = texts(chart)
    for label in ("Records by category", "Records by urgency", "billing", "bug", "refund", "(none)", "urgent",
                  "Model calls per phase", "Tokens per phase", "extract", "transform", "prompt", "completion"):
        assert label in labels, label
    assert '<other> & "more"' in labels, "labels are escaped, not broken XML"
    assert "4,039" in labels, "the stacked token bar is labelled with its total"
    text = report.read_text()
    assert "## Chart\n\n![chart](triage-report.svg)\n" in text
    assert "| extract | 3 | 1 | 4006 | 33 |" in text.split("## Model calls by phase")[1]


def test_chart_without_calls_and_deterministic(tmp_path: Path) -> None:
    one = write_report(tmp_path / "a" / "r.md", "triage", "run-1", {}, RECORDS, SCHEMA, None, [], AT)
    two = write_report(tmp_path / "b" / "r.md", "triage", "run-1", {}, list(reversed(RECORDS)), SCHEMA, None, [], AT)
    assert (tmp_path / "a" / "r.svg").read_bytes() == (tmp_path / "b" / "r.svg").read_bytes()
    assert "Model calls per phase" not in texts(tmp_path / "a" / "r.svg")
    assert "## Model calls by phase" not in one.read_text() and two.read_text() == one.read_text()


def test_nothing_to_draw_means_no_chart(tmp_path: Path) -> None:
    plain = SchemaSpec(table="notes", fields={"summary": {"type": "string"}})
    assert render_chart("t", {}, None) is None
    report = write_report(tmp_path / "r.md", "notes", "run-1", {}, [{"item_id": "a", "summary": "x"}], plain, None,
                          [], AT)
    assert not (tmp_path / "r.svg").exists() and "![chart]" not in report.read_text()
    assert render_chart("t", {}, {"extract": {"calls": 1}}) is not None, "calls alone are worth a chart"


def test_a_real_run_writes_the_chart(project_dir: Path, scripted, tmp_path: Path, isolated_state: Path,  # type: ignore[no-untyped-def]
                                     cli) -> None:
    from yaml_edit import with_researcher

    from etlcrew.ledger import open_ledger
    from etlcrew.model_runtime.scripted import sample_answer
    from etlcrew.specs.loader import load_project

    scripted("chart", default=sample_answer)
    with_researcher(project_dir)  # the three phases, so the chart has a bar per phase
    result = cli("run", "--model", "scripted/chart", "--json")
    assert result.code == 0
    run_id = result.json["run_id"]
    chart = tmp_path / "output" / "support_inbox-report.svg"
    assert chart.is_file() and chart.stat().st_size > 0
    schema = load_project(project_dir / "config").crews["support_inbox"].output_schema
    labels = texts(chart)
    for name, spec in schema.fields.items():
        if spec.type == "enum":
            assert f"Records by {name}" in labels and set(spec.values or []) <= set(labels)
    assert "![chart](support_inbox-report.svg)" in chart.with_suffix(".md").read_text()
    ledger = open_ledger(isolated_state)
    calls = ledger.calls_by_phase(run_id)
    ledger.close()
    assert {"extract", "transform", "load"} <= set(calls)
    write_report(tmp_path / "again" / "r.md", "support_inbox", run_id, {}, [], schema, None, [], AT,
                 calls_by_phase=calls)
    assert {"Model calls per phase", "extract", "transform", "load"} <= set(texts(tmp_path / "again" / "r.svg"))
