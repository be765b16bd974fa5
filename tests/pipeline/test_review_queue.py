"""Clearing the review queue without a terminal: ``review --list``, ``--export`` and ``--import`` against real
DuckDB and ledger files, after a scripted-model run that held three items; a held item waits for its person."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import duckdb
import pytest
from review_fixtures import HELD, three_alike


@pytest.fixture
def held_run(project_dir: Path, scripted, cli):  # type: ignore[no-untyped-def]
    """A run of the inbox that holds exactly the three items of ``HELD``."""
    llm = scripted("alike", default=three_alike)
    result = cli("run", "--model", "scripted/alike", "--json")
    assert result.code == 0, result.err
    assert result.json["items"]["review"] == 3
    return llm


def tables(tmp_path: Path) -> dict[str, dict[str, dict]]:
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        out = {}
        for table in ("tickets", "tickets__review"):
            cursor = con.execute(f"SELECT * FROM etlcrew.{table}")
            names = [c[0] for c in cursor.description]
            out[table] = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_review_without_a_terminal_names_the_flags_to_use(held_run, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("review")
    assert result.code == 2
    assert "--export" in result.err and "--import" in result.err and "--list" in result.err


def test_list_json_gives_the_held_items_with_the_model_values(held_run, cli) -> None:  # type: ignore[no-untyped-def]
    held = cli("review", "--list", "--json").json["held"]
    assert sorted(h["item_id"] for h in held) == sorted(HELD)
    assert all("summary repeated verbatim" in h["reason"] for h in held)
    assert {h["fields"]["summary"]["value"] for h in held} == {"Same day double charge of 4 EUR on the plan."}


def test_export_import_lands_corrections_and_a_rerun_keeps_them(held_run, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                 project_dir: Path, isolated_state: Path) -> None:
    exported = tmp_path / "queue.csv"
    assert cli("review", "--export", str(exported)).code == 0
    rows = read_csv(exported)
    assert list(rows[0])[:3] == ["item_id", "reason", "decision"] and "category" in rows[0]
    assert sorted(r["item_id"] for r in rows) == sorted(HELD) and all(r["decision"] == "" for r in rows)
    by_id = {r["item_id"]: r for r in rows}
    model_category = by_id[HELD[1]]["category"]
    new_category = "bug" if model_category != "bug" else "billing"
    by_id[HELD[0]] |= {"decision": "accept", "summary": "Charged twice for the Cloud Plan."}
    by_id[HELD[1]] |= {"decision": "accept", "category": new_category, "summary": "Thermostat drifts."}
    by_id[HELD[2]] |= {"decision": ""}  # left held
    write_csv(exported, rows)

    result = cli("review", "--import", str(exported), "--reviewer", "ana")
    assert result.code == 0, result.err
    stored = tables(tmp_path)
    assert stored["tickets"][HELD[1]]["category"] == new_category
    assert stored["tickets"][HELD[0]]["summary"] == "Charged twice for the Cloud Plan."
    assert set(stored["tickets__review"]) == {HELD[2]}, "decided items left the review table"
    with sqlite3.connect(isolated_state / "ledger.db") as db:
        reviews = db.execute("SELECT item_id, decision, reviewer, suggestion_json, final_json FROM reviews "
                             "ORDER BY item_id").fetchall()
        states = dict(db.execute("SELECT item_id, state FROM items WHERE item_id IN (?, ?, ?)", HELD).fetchall())
    assert [(r[0], r[1], r[2]) for r in reviews] == [(HELD[0], "correct", "ana"), (HELD[1], "correct", "ana")]
    assert '"probability"' in reviews[1][3] and model_category in reviews[1][3], "the suggestion kept beside"
    assert new_category in reviews[1][4]
    assert states == {HELD[0]: "reviewed", HELD[1]: "reviewed", HELD[2]: "review"}

    labels = read_csv(project_dir / "data" / "support_inbox_reviewed.csv")
    assert [r["file"] for r in labels] == ["0001-double-charge.eml", "0002-thermostat-wont-hold-temp.eml"]
    assert labels[1]["category"] == new_category and "summary" not in labels[1]
    from etlcrew.commands.project import load_checked
    from etlcrew.evaluation.labels import read_labels
    from etlcrew.settings import load_settings

    schema = load_checked(load_settings())[0].crews["support_inbox"].output_schema
    read = read_labels(project_dir / "data" / "support_inbox_reviewed.csv", "reviewed", schema,
                       [f"inbox:{p.name}" for p in (project_dir / "data" / "inbox").iterdir()])
    assert read.expected[HELD[1]]["category"] == new_category, "the reviewed labels read as eval labels"
    scored = cli("eval", "--labels", "data/support_inbox_reviewed.csv", "--model", "scripted/alike", "--json")
    assert scored.code == 0 and scored.json["items"] == 2, scored.err

    first_run = cli("runs", "--json").json[0]
    assert first_run["reviewed"] == 2 and first_run["items"]["review"] == 3
    shown = {r["item_id"]: r for r in cli("show", first_run["run_id"], "--json").json["review"]}
    assert shown[HELD[1]]["decision"] == "correct" and shown[HELD[1]]["reviewer"] == "ana"
    assert shown[HELD[2]]["decision"] is None

    again = cli("run", "--model", "scripted/alike", "--json").json
    assert again["llm"]["calls"] == 0 and again["items"]["skipped"] == 30
    assert tables(tmp_path)["tickets"][HELD[1]]["category"] == new_category, "the person's value is kept"


def test_discard_leaves_review_and_the_table(held_run, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    exported = tmp_path / "queue.csv"
    cli("review", "--export", str(exported))
    rows = read_csv(exported)
    for row in rows:
        row["decision"] = "discard"
    write_csv(exported, rows)
    assert cli("review", "--import", str(exported)).code == 0
    stored = tables(tmp_path)
    assert stored["tickets__review"] == {} and not set(HELD) & set(stored["tickets"])
    assert cli("review", "--list", "--json").json["held"] == []


def test_bad_import_rows_name_line_and_column_and_apply_nothing(held_run, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    exported = tmp_path / "queue.csv"
    cli("review", "--export", str(exported))
    rows = read_csv(exported)
    rows[0] |= {"decision": "accept"}
    rows[1] |= {"decision": "accept", "category": "billingg"}
    rows[2] |= {"decision": "maybe"}
    write_csv(exported, rows)
    result = cli("review", "--import", str(exported))
    assert result.code == 2
    assert f"{exported}:3: column 'category': 'billingg' is not one of" in result.err
    assert f"{exported}:4: column 'decision': 'maybe' is not a decision" in result.err
    assert "Traceback" not in result.err
    assert len(tables(tmp_path)["tickets__review"]) == 3, "nothing applied"
    assert len(cli("review", "--list", "--json").json["held"]) == 3

    rows[1] |= {"category": "billing", "summary": "x" * 101}  # summary: max 100
    rows[2] |= {"decision": ""}
    write_csv(exported, rows)
    result = cli("review", "--import", str(exported))
    assert result.code == 2 and f"{exported}:3: column 'summary':" in result.err


def test_held_items_cost_no_calls_until_retry_review(held_run, cli) -> None:  # type: ignore[no-untyped-def]
    again = cli("run", "--model", "scripted/alike", "--json").json
    assert again["llm"]["calls"] == 0 and again["items"]["skipped"] == 30, "held items wait for their person"
    retried = cli("run", "--model", "scripted/alike", "--retry-review", "--json").json
    assert retried["llm"]["calls"] > 0
    assert retried["items"]["skipped"] == 27 and retried["items"]["review"] == 3
    report = Path(next(o for o in retried["outputs"] if o.endswith(".md"))).read_text()
    assert "| waiting for review | 3 |" in report and "| reviewed by a person | 0 |" in report


def test_a_changed_model_asks_again_and_loaded_items_leave_review(held_run, scripted, cli,  # type: ignore[no-untyped-def]
                                                                  tmp_path: Path) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    scripted("plain", default=sample_answer)
    again = cli("run", "--model", "scripted/plain", "--json").json
    assert again["items"]["skipped"] == 0 and again["items"]["loaded"] == 30, "another model: every item re-asked"
    stored = tables(tmp_path)
    assert stored["tickets__review"] == {} and set(HELD) <= set(stored["tickets"])
    assert cli("review", "--list", "--json").json["held"] == []


def test_decisions_leave_the_review_rows_of_sqlite_and_jsonl_targets(project_dir: Path, scripted, cli,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Path) -> None:
    from yaml_edit import edit_config

    edit_config(project_dir / "config" / "crews.yaml", "  targets:\n    - type: duckdb\n    - type: report\n",
                "  targets:\n    - type: sqlite\n    - type: jsonl\n    - type: report\n")
    scripted("alike", default=three_alike)
    outputs = cli("run", "--model", "scripted/alike", "--json").json["outputs"]
    exported = tmp_path / "queue.csv"
    cli("review", "--export", str(exported))
    rows = read_csv(exported)
    rows[0]["decision"], rows[1]["decision"] = "accept", "discard"
    write_csv(exported, rows)
    assert cli("review", "--import", str(exported)).code == 0
    database = next(Path(o) for o in outputs if o.endswith(".sqlite"))
    with sqlite3.connect(database) as db:
        held = {r[0] for r in db.execute("SELECT item_id FROM tickets__review")}
        loaded = {r[0] for r in db.execute("SELECT item_id FROM tickets")}
    assert held == {rows[2]["item_id"]} and rows[0]["item_id"] in loaded and rows[1]["item_id"] not in loaded
    lines = (tmp_path / "output" / "support_inbox__review.jsonl").read_text().splitlines()
    assert [json.loads(line)["item_id"] for line in lines] == [rows[2]["item_id"]]
    records = (tmp_path / "output" / "support_inbox.jsonl").read_text()
    assert rows[0]["item_id"] in records and rows[1]["item_id"] not in records


def test_an_untouched_row_is_an_acceptance_when_the_model_left_spaces_around_a_value(  # type: ignore[no-untyped-def]
        project_dir: Path, scripted, cli, tmp_path: Path, isolated_state: Path) -> None:
    """Seen on the embedded model: a value with a leading space, trimmed on import, counted as a correction."""
    def spaced(call):  # type: ignore[no-untyped-def]
        data = json.loads(three_alike(call))
        for record in data.get("records", []) if isinstance(data, dict) else []:
            if record.get("item_id") in HELD:
                record["summary"] = f" {record['summary']} "
        return json.dumps(data)

    scripted("spaced", default=spaced)
    assert cli("run", "--model", "scripted/spaced", "--json").json["items"]["review"] == 3
    exported = tmp_path / "queue.csv"
    assert cli("review", "--export", str(exported)).code == 0
    rows = read_csv(exported)
    assert all(r["summary"].startswith(" ") for r in rows), "the export keeps the model's value as it is"
    for row in rows:
        row["decision"] = "accept"
    write_csv(exported, rows)
    result = cli("review", "--import", str(exported), "--reviewer", "ana")
    assert result.code == 0, result.err
    with sqlite3.connect(isolated_state / "ledger.db") as db:
        decisions = [r[0] for r in db.execute("SELECT decision FROM reviews")]
    assert decisions == ["accept"] * 3
