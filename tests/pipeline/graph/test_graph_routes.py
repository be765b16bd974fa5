"""Routes of a ``process: graph`` crew through the CLI: retry then quarantine, the review lane, approval before
Load (``approve``), and the checks ``validate`` runs on routes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from yaml_edit import edit_config

ROUTES = """  process: graph
  routes:
    transform:
      - {when: invalid, goto: transform, max: 1}
      - {when: "sentiment == 'negative'", goto: review}
      - {when: "urgency == 'urgent'", goto: approve}
"""
URGENT, UPSET, BROKEN = "0001-double-charge", "0002-thermostat", "0004-refund"


def graph_crew(project_dir: Path, routes: str = ROUTES) -> None:
    edit_config(project_dir / "config" / "crews.yaml", "  process: sequential\n", routes)


@pytest.fixture
def routed(scripted):  # type: ignore[no-untyped-def]
    """Urgent, upset, invalid: one item each; every other item is a plain record."""
    from etlcrew.model_runtime.scripted import sample_answer

    def answer(call):  # type: ignore[no-untyped-def]
        text = sample_answer(call)
        if call.response_model is None or "records" not in call.response_model.model_fields:
            return text
        data = json.loads(text)
        for record in data["records"]:
            item = record["item_id"]
            if URGENT in item:
                record["urgency"] = "urgent"
            elif UPSET in item:
                record["sentiment"] = "negative"
            elif BROKEN in item:
                record["category"] = "apocalyptic"
        return json.dumps(data)

    return scripted("etl", default=answer)


def table(tmp_path: Path, name: str) -> list[str]:
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        return [r[0] for r in con.execute(f"SELECT item_id FROM etlcrew.{name} ORDER BY item_id").fetchall()]


def test_routes_retry_review_and_approve_before_load(project_dir: Path, routed, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    graph_crew(project_dir)
    first = cli("run", "--model", "scripted/etl", "--json")
    assert first.code == 0, first.err
    summary = first.json
    assert summary["status"] == "partial"
    loaded = table(tmp_path, "tickets")
    assert not any(URGENT in i for i in loaded), "the urgent item waits for approval"
    assert [i for i in table(tmp_path, "tickets__quarantine") if BROKEN in i], "still invalid: quarantined"
    assert [i for i in table(tmp_path, "tickets__review") if UPSET in i]
    assert summary["items"]["extracted"] == (summary["items"]["loaded"] + summary["items"]["review"]
                                             + summary["items"]["quarantined"] + 1)
    shown = cli("show", summary["run_id"], "--json").json
    # the invalid record's transform ran twice (its own retry, max: 1), then it went to quarantine
    assert shown["routes"]["validate->approve"] == 1 and shown["routes"]["validate->transform"] == 1
    assert shown["routes"]["validate->review"] == 1 and shown["routes"]["validate->quarantine"] == 1

    calls = len(routed.history)
    urgent = next(i for i in shown["waiting"] if URGENT in i)
    approved = cli("approve", summary["run_id"], urgent, "--json")
    assert approved.code == 0, approved.err
    assert [i for i in table(tmp_path, "tickets") if URGENT in i], "approved: it lands"
    again = [c.task for c in routed.history[calls:]]
    assert again == ["load"], "the approved thread resumes after its model call; only the run's digest is rewritten"
    assert urgent not in approved.json["outcome"]["held_item_ids"]
    assert approved.json["items"]["loaded"] == summary["items"]["loaded"] + 1
    assert cli("approve", summary["run_id"], "--all").code == 2, "nothing waits any more"


@pytest.mark.parametrize(("routes", "words"), [
    ("    transform:\n      - {when: invalid, goto: transfrom, max: 1}\n", ["unknown node 'transfrom'", "transform"]),
    ("    transform:\n      - {when: invalid, goto: transform}\n", ["loops without 'max'", "max: 1"]),
    ("    load:\n      - {when: invalid, goto: review}\n", ["unknown node 'load'", "transform"]),
    ("    transform:\n      - {when: \"mood == 'x'\", goto: review}\n",
     ["unknown field 'mood'", "routes.transform.0.when"]),
    ("    transform:\n      - {when: \"urgency == 'high'\", goto: review}\n"
     "      - {when: \"urgency  == 'high'\", goto: approve}\n", ["unreachable", "first match wins"]),
])
def test_validate_checks_routes(project_dir: Path, cli, routes: str, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    graph_crew(project_dir, "  process: graph\n  routes:\n" + routes)
    result = cli("validate", "--json")
    assert result.code == 2
    problems = result.json["problems"]
    assert len(problems) == 1, problems
    text = json.dumps(problems[0])
    assert "crews.yaml" in problems[0]["file"] and problems[0]["entry"] == "support_inbox"
    assert all(w in text for w in words), text


def test_routes_need_process_graph(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    graph_crew(project_dir, "  process: sequential\n  routes:\n    transform:\n      - {when: invalid, goto: review}\n")
    result = cli("validate")
    assert result.code == 2 and "only used with process: graph" in result.err
