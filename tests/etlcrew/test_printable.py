"""A file name carrying an ANSI escape, a BEL, a newline and a bidi override never reaches the terminal, ``show``,
the report or the trace raw: each control character is written as a visible escape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etlcrew.printable import json_printable, one_line, printable

RAW = ("\x1b", "\x07", "\x9b", "\u202e")
NAME = "0099-\x1b[2J\x1b]0;owned\x07title\x9b2J\u202eevil\nsecond-line.eml"


def assert_no_raw(where: str, text: str) -> None:
    for char in RAW:
        assert char not in text, f"{char!r} reached {where} raw"


@pytest.mark.parametrize(("text", "shown"), [
    ("a\x1b[2Jb", "a\\x1b[2Jb"), ("bell\x07", "bell\\x07"), ("c1\x9b", "c1\\x9b"), ("rtl\u202e", "rtl\\u202e"),
    ("two\nlines\ttab", "two\nlines\ttab"),
])
def test_printable_escapes_controls_but_keeps_newlines_and_tabs(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert "\n" not in one_line(text) and "\t" not in one_line(text)


def test_json_printable_is_the_same_json_value() -> None:
    value = {"name": NAME}
    text = json_printable(json.dumps(value, ensure_ascii=False))
    assert_no_raw("the JSON", text)
    assert json.loads(text) == value


def test_a_hostile_file_name_is_printed_escaped_by_run_show_the_report_and_the_trace(
        project_dir: Path, cli, isolated_state: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "data" / "inbox" / NAME).write_text("")  # empty: quarantined, so listed by name everywhere
    code, out, err = cli("run", "--model", "scripted/sample", "--json")
    assert code == 0, err
    assert_no_raw("the run's output", out + err)
    run_id = json.loads(out)["run_id"]
    code, text, err = cli("show", run_id)
    assert code == 0
    assert_no_raw("show", text + err)
    (line,) = [line for line in text.splitlines() if "0099-" in line]
    assert "second-line.eml: empty file" in line, "the newline in the name did not split the line"
    assert "\\x1b[2J" in line and "\\x07" in line, "the escapes are shown, not dropped"
    shown = cli("show", run_id, "--json")
    assert_no_raw("show --json", shown.out)
    assert any(q["item_id"] == f"inbox:{NAME}" for q in shown.json["quarantined"]), "the JSON keeps the real id"
    code, listed, _ = cli("runs")
    assert_no_raw("runs", listed)
    report = (tmp_path / "output" / "support_inbox-report.md").read_text()
    assert_no_raw("the report", report)
    assert "0099-\\x1b[2J" in report
    trace = "".join(p.read_text() for p in (isolated_state / "traces").glob("*.jsonl"))
    assert_no_raw("the trace", trace)


def test_an_action_item_named_with_a_newline_keeps_its_line() -> None:
    """The run's action list (``run`` and ``show``) and its digest stay one line each whatever the item ids hold."""
    from etlcrew.pipeline.run_result import outcome_lines

    item = "inbox:new\nline.txt"
    lines = outcome_lines({"digest": f"Act on {item} today.", "digest_source": "code",
                           "action_item_ids": [item, "inbox:0001.eml"], "held_item_ids": [item]})
    assert all("\n" not in line for line in lines)
    assert lines[1] == "  needs action (2): inbox:new\\nline.txt (held for review), inbox:0001.eml"
