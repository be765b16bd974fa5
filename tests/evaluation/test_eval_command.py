"""``eval`` end to end on the shipped inbox crew: a scripted model with known answers gives exact figures, no
target is written, later runs are unaffected, and bad labels stop before any model call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LABELS = """file,category,urgency
0001-double-charge.eml,billing,medium
0002-thermostat-wont-hold-temp.eml,bug,medium
0003-doorbell-offline-urgent.eml,bug,urgent
0004-refund-not-received.eml,billing,medium
"""
ANSWERS = {  # what the scripted model says per item: category right 3 times in 4, urgency right 2 times in 4
    "inbox:0001-double-charge.eml": {"category": "billing", "urgency": "medium"},
    "inbox:0002-thermostat-wont-hold-temp.eml": {"category": "bug", "urgency": "low"},
    "inbox:0003-doorbell-offline-urgent.eml": {"category": "shipping", "urgency": "urgent"},
    "inbox:0004-refund-not-received.eml": {"category": "billing", "urgency": "high"},
}


@pytest.fixture
def known_answers(scripted):  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    def answer(call):  # type: ignore[no-untyped-def]
        data = json.loads(sample_answer(call)) if call.response_model is not None else None
        if isinstance(data, dict) and "records" in data:
            for record in data["records"]:
                record.update(ANSWERS[record["item_id"]])
            return json.dumps(data)
        return sample_answer(call)

    return scripted("known", default=answer)


def test_eval_scores_each_field_exactly_and_writes_nothing(project_dir: Path, known_answers, cli,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    (project_dir / "data" / "labels.csv").write_text(LABELS)
    code, out, err = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["crew"], report["labels"], report["items"]) == ("support_inbox", "data/labels.csv", 4)
    [row] = report["results"]
    assert row["fields"]["category"] == {"accuracy": 0.75, "correct": 3, "total": 4, "confusion": {
        "billing": {"billing": 2}, "bug": {"bug": 1, "shipping": 1}}}
    assert row["fields"]["urgency"]["correct"] == 2 and row["fields"]["urgency"]["accuracy"] == 0.5
    assert (row["correct_records"], row["loaded"], row["loaded_accuracy"]) == (1, 4, 0.625)
    # only the labelled items were processed: one transform call per item (items_per_call: 1), one batch
    assert [c.task for c in known_answers.history].count("transform") == 4
    assert [c.task for c in known_answers.history].count("load") == 1
    assert row["calls"] == len(known_answers.history)
    assert row["seconds_per_correct_record"] == row["seconds"]
    assert [(m["item_id"], m["field"], m["expected"], m["produced"], m["confidence"]) for m in row["misses"]] == [
        ("inbox:0002-thermostat-wont-hold-temp.eml", "urgency", "medium", "low", None),
        ("inbox:0003-doorbell-offline-urgent.eml", "category", "bug", "shipping", None),
        ("inbox:0004-refund-not-received.eml", "urgency", "medium", "high", None),
    ], "every wrong value, in label order; a scripted model gives no log-probabilities"
    assert not (tmp_path / "output").exists(), "eval writes no target"
    assert cli("runs", "--json").json == [], "eval leaves nothing in the ledger a later run reads"


def test_eval_prints_a_table_and_confusion_tables(project_dir: Path, known_answers, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "data" / "labels.csv").write_text(LABELS)
    code, out, _ = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known", "--limit", "2")
    assert code == 0
    assert "eval support_inbox: 2 items" in out and "produced" in out and "billing" in out
    assert [c.task for c in known_answers.history].count("transform") == 2, "--limit 2: two items"
    assert "wrong values" not in out, "misses are listed only when asked"


def test_eval_misses_lists_each_wrong_value(project_dir: Path, known_answers, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "data" / "labels.csv").write_text(LABELS)
    code, out, _ = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known", "--misses")
    assert code == 0
    assert "3 wrong values" in out
    lines = [line for line in out.splitlines() if "0003-doorbell" in line]
    assert len(lines) == 1 and "shipping" in lines[0] and "category" in lines[0]


ACTION_LABELS = """file,category,needs_action
0001-double-charge.eml,billing,false
0002-thermostat-wont-hold-temp.eml,bug,true
0003-doorbell-offline-urgent.eml,bug,true
0004-refund-not-received.eml,billing,no
"""


def test_eval_scores_the_runs_action_list(project_dir: Path, known_answers, cli) -> None:  # type: ignore[no-untyped-def]
    """The shipped rule (urgency urgent or high) lists 0003 and 0004; the labels want 0002 and 0003."""
    (project_dir / "data" / "labels.csv").write_text(ACTION_LABELS)
    code, out, err = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known", "--json")
    assert code == 0, err
    [row] = json.loads(out)["results"]
    assert row["actions"] == {"precision": 0.5, "recall": 0.5, "missed": ["inbox:0002-thermostat-wont-hold-temp.eml"],
                              "extra": ["inbox:0004-refund-not-received.eml"]}
    assert list(row["fields"]) == ["category"], "needs_action is a label of the run, not a field"
    code, out, _ = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known")
    assert code == 0 and "actions P / R" in out and "0.50 / 0.50" in out
    assert "action list missed inbox:0002-thermostat-wont-hold-temp.eml; extra inbox:0004" in " ".join(out.split())

    (project_dir / "data" / "labels.csv").write_text(LABELS)
    code, out, _ = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known", "--json")
    assert json.loads(out)["results"][0]["actions"] is None, "no needs_action column: nothing to score"


RULE_LABELS = """file,category,urgency,needs_action
0001-double-charge.eml,billing,medium,false
0002-thermostat-wont-hold-temp.eml,bug,medium,true
0003-doorbell-offline-urgent.eml,bug,urgent,true
0004-refund-not-received.eml,billing,medium,false
"""


def test_the_action_rules_bench_rescores_rules_on_an_evals_records(  # type: ignore[no-untyped-def]
        project_dir: Path, known_answers, cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench/action_rules.py rebuilds the records from `eval --json --misses`: the crew's own rule gives eval's own
    action score, and another rule is scored on the same records without a model call."""
    import importlib.util
    import sys

    (project_dir / "data" / "labels.csv").write_text(RULE_LABELS)
    code, out, err = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known", "--json", "--misses")
    assert code == 0, err
    saved = tmp_path / "eval.json"
    saved.write_text(out)
    spec = importlib.util.spec_from_file_location("action_rules", Path(__file__).parents[2] / "bench" /
                                                  "action_rules.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rule = "category == 'bug' or urgency == 'urgent'"  # 0002 (bug, low) and 0003 (shipping, urgent)
    sys_argv = sys.argv
    try:
        sys.argv = ["action_rules.py", str(saved)]
        bench.main()
        sys.argv = ["action_rules.py", str(saved), "--when", rule]
        bench.main()
    finally:
        sys.argv = sys_argv
    printed = capsys.readouterr().out
    own = json.loads(out)["results"][0]["actions"]
    assert (own["precision"], own["recall"]) == (0.5, 0.5)
    assert "P 0.50 R 0.50  urgency in ['urgent', 'high']" in printed, printed
    assert "extra: inbox:0004-refund-not-received.eml" in printed
    assert f"P 1.00 R 1.00  {rule}" in printed, printed


@pytest.mark.parametrize(("labels", "line", "column"), [
    ("file,needs_action\n0001-double-charge.eml,maybe\n", 2, "needs_action"),
    ("file,category\n0001-double-charge.eml,billing\nnot-an-item.eml,bug\n", 3, "file"),
    ("file,category\n0001-double-charge.eml,refund\n", 2, "category"),
    ("file,colour\n0001-double-charge.eml,red\n", 1, "colour"),
    ("name,category\nx,bug\n", 1, None),
])
def test_bad_labels_exit_2_naming_file_line_and_column(project_dir: Path, known_answers, cli,  # type: ignore[no-untyped-def]
                                                        labels: str, line: int, column: str | None) -> None:
    (project_dir / "data" / "labels.csv").write_text(labels)
    code, _, err = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known")
    assert code == 2
    assert f"data/labels.csv:{line}:" in err
    if column:
        assert f"'{column}'" in err
    assert "Traceback" not in err
    assert known_answers.history == [], "nothing ran"


def test_the_shipped_crews_declare_labels_that_read(project_dir: Path) -> None:
    from etlcrew.evaluation.label_files import read_crew_labels
    from etlcrew.settings import load_settings
    from etlcrew.specs.loader import load_project

    settings = load_settings(load_dotenv_file=False)
    project = load_project(settings.config_dir)
    import subprocess
    import sys

    subprocess.run([sys.executable, "data/make_shop_db.py"], cwd=project_dir, check=True, capture_output=True)
    sizes = {crew: len(read_crew_labels(settings, project, crew, None).expected)
             for crew in ("support_inbox", "orders_enrichment", "research_brief")}
    assert sizes == {"support_inbox": 30, "orders_enrichment": 53, "research_brief": 8}
    inbox = read_crew_labels(settings, project, "support_inbox", None).actions
    assert (len(inbox), sum(inbox.values())) == (30, 7), "data/README.md: 7 of the 30 need action"


def test_validate_checks_the_crews_labels_before_anything_runs(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    labels = project_dir / "data" / "inbox_expected.csv"
    text = labels.read_text()
    assert "0001-double-charge.eml,billing," in text, "the shipped labels changed: update this test"
    labels.write_text(text.replace("0001-double-charge.eml,billing,", "0001-double-charge.eml,refunds,", 1))
    code, _, err = cli("validate")
    assert code == 2
    assert "data/inbox_expected.csv:2: column 'category': 'refunds' is not one of" in err


def test_validate_names_a_missing_source_folder_of_a_labelled_crew(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import shutil

    shutil.rmtree(project_dir / "data" / "inbox")
    code, _, err = cli("validate")
    assert code == 2
    assert "crew 'support_inbox'" in err and "data/inbox" in err and "Traceback" not in err
