"""The ``notify`` target through the CLI: ``validate`` refuses what cannot work (exit 2, key and fix), a user's tool
from ``tools/`` is called once per action item across runs, and ``show`` lists a failed delivery with its error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from yaml_edit import edit_config

from etlcrew.model_runtime.scripted import ScriptedCall, sample_answer

SHIPPED_HOOK = ("    - type: webhook\n      url: http://127.0.0.1:8765/hooks/urgent\n"
                "      when: \"urgency == 'urgent'\"\n      enabled: false\n")
BROKEN = "inbox:0004-refund-not-received.eml"  # an action item (every third of the run) the pager fails on
PAGER = '''"""Page someone about an action item (a test's tool)."""
import json

from crewai.tools import tool


@tool("pager")
def pager(item_id: str, fields: dict, idempotency_key: str) -> str:
    """Page the on-call person about one action item."""
    if item_id in {broken}:
        return "error: the pager is down"
    with open({log!r}, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({{"item_id": item_id, "key": idempotency_key, "fields": fields}}) + "\\n")
    return "paged"
'''


def notify(project: Path, target: str) -> None:
    edit_config(project / "config" / "crews.yaml", SHIPPED_HOOK, target)


def actions(call: ScriptedCall) -> str:
    """The publisher names every third item of the run; every other call as ``sample_answer``."""
    text = sample_answer(call)
    if call.response_model is not None and "action_item_ids" in call.response_model.model_fields:
        ids = call.response_model.model_json_schema()["properties"]["action_item_ids"]["items"]["enum"]
        text = json.dumps(json.loads(text) | {"action_item_ids": ids[::3]})
    return text


@pytest.mark.parametrize(("target", "found", "fix"), [
    ("    - type: notify\n      tool: pagr\n", "(key targets.2.tool): no tool named 'pagr' in tools/",
     "python main.py new tool pagr"),
    ("    - type: notify\n      tool: notify_webhook\n", "tool 'notify_webhook' takes 'url', which a notice cannot",
     "a notify tool takes only arguments among crew, run_id, item_id, fields, idempotency_key, payload"),
    ("    - type: notify\n      path: data\n", "(key targets.2.path):", "name a file in it"),
    ("    - type: notify\n      path: data/inbox_expected.csv/actions.log\n", "which is a file, not a folder",
     "name a file in a folder"),
    ("    - type: notify\n      path: ../actions.log\n", "is outside the project and output folders",
     "write a path inside the project"),
    ("    - type: notify\n      when: \"urgncy == 'urgent'\"\n", "(key targets.2.when): unknown field 'urgncy'",
     "fields of the schema"),
    ("    - type: notify\n      path: a.log\n      tool: pager\n", "not both", "keep one"),
])
def test_validate_refuses_a_notify_target_that_cannot_work(project_dir: Path, cli, target: str, found: str,  # type: ignore[no-untyped-def]
                                                           fix: str) -> None:
    notify(project_dir, target)
    code, out, err = cli("validate")
    assert code == 2, out + err
    assert "crews.yaml:" in err and found in err and fix in err, err
    assert "Traceback" not in err


def test_a_tool_is_called_once_per_action_item_and_show_lists_a_failure(project_dir: Path, tmp_path: Path, cli,  # type: ignore[no-untyped-def]
                                                                        scripted: Any) -> None:
    log = tmp_path / "paged.jsonl"
    (project_dir / "tools" / "pager.py").write_text(PAGER.format(broken=f"{{{BROKEN!r}}}", log=str(log)))
    notify(project_dir, "    - type: notify\n      tool: pager\n      max_attempts: 1\n")
    # the publisher chooses the action items here (the shipped crew's rule would pick by the scripted urgencies)
    edit_config(project_dir / "config" / "crews.yaml", "  actions: {when: \"urgency in ['urgent', 'high']\"}",
                "  actions: {from: publisher}")
    scripted("actions", default=actions)
    first = cli("run", "--model", "scripted/actions")
    assert first.code == 0, first.err
    assert f"notify:tool:pager: 1 deliveries failed (first: {BROKEN}: the pager is down)" in first.err
    run_id = cli("runs", "--json").json[0]["run_id"]
    paged = [json.loads(line) for line in log.read_text().splitlines()]
    items = [p["item_id"] for p in paged]
    assert len(items) == len(set(items)) > 3 and BROKEN not in items
    assert all(p["fields"]["category"] and len(p["key"]) == 64 for p in paged)

    shown = cli("show", run_id, "--json").json["deliveries"]
    failed = [d for d in shown if d["status"] != "delivered"]
    assert [(d["item_id"], d["status"], d["attempts"], d["last_error"]) for d in failed] == [
        (BROKEN, "failed", 1, "the pager is down")]
    assert len(shown) == len(items) + 1
    text = cli("show", run_id).out
    assert f"deliveries ({len(items)} delivered, 1 failed)" in text and "the pager is down" in text

    again = cli("run", "--model", "scripted/actions", "--json")  # nothing changed: only the failed one is retried
    assert again.code == 0 and again.json["items"]["skipped"] == 30
    assert len(log.read_text().splitlines()) == len(items)
    retried = cli("show", again.json["run_id"], "--json").json["deliveries"]
    assert [(d["item_id"], d["status"], d["attempts"], d["runs"]) for d in retried] == [
        (BROKEN, "failed", 2, 2)]
