"""A held-out test set: a ``labels.csv`` beside its own items is scored on those items, not the crew's source;
``eval`` reports the share of loaded records all right and the share of wrong values the review gate held."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.yaml_edit import edit_config

# four items copied under new names into data/heldout/; what the scripted model answers for each
LABELS = """file,category,urgency
a-right.eml,billing,medium
b-one-wrong.eml,bug,medium
c-held-two-wrong.eml,bug,urgent
d-held-right.eml,billing,medium
"""
COPIES = {"a-right.eml": "0001-double-charge.eml",
          "b-one-wrong.eml": "0002-thermostat-wont-hold-temp.eml",
          "c-held-two-wrong.eml": "0003-doorbell-offline-urgent.eml",
          "d-held-right.eml": "0004-refund-not-received.eml"}
HELD_SUMMARY = "Held: the same long summary twice."  # repeated verbatim by c and d: both go to review
ANSWERS = {
    "inbox:a-right.eml": {"category": "billing", "urgency": "medium", "summary": "Charged twice."},
    "inbox:b-one-wrong.eml": {"category": "bug", "urgency": "low", "summary": "Thermostat ignores schedule."},
    "inbox:c-held-two-wrong.eml": {"category": "shipping", "urgency": "low", "summary": HELD_SUMMARY},
    "inbox:d-held-right.eml": {"category": "billing", "urgency": "medium", "summary": HELD_SUMMARY},
}


@pytest.fixture
def heldout(project_dir: Path) -> Path:
    folder = project_dir / "data" / "heldout"
    folder.mkdir()
    for new, old in COPIES.items():
        shutil.copy(project_dir / "data" / "inbox" / old, folder / new)
    (folder / "labels.csv").write_text(LABELS)
    return folder


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


def test_labels_beside_their_items_are_scored_on_those_items(heldout: Path, known_answers, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("eval", "--labels", "data/heldout/labels.csv", "--model", "scripted/known", "--json")
    assert code == 0, err
    [row] = json.loads(out)["results"]
    assert (row["items"], row["loaded"], row["review"]) == (4, 2, 2)
    assert row["fields"]["category"]["correct"] == 3 and row["fields"]["urgency"]["correct"] == 2
    assert row["loaded_records_all_right"] == 0.5, "a right, b has a wrong urgency"
    assert row["wrong_values_caught"] == 0.6667, "2 of the 3 wrong values sat in c, held for review"
    prompts = "\n".join(c.prompt for c in known_answers.history)
    assert "a-right.eml" in prompts and "0001-double-charge.eml" not in prompts, "the crew read data/heldout"


def test_the_table_shows_both_figures(heldout: Path, known_answers, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("eval", "--labels", "data/heldout/labels.csv", "--model", "scripted/known")
    assert code == 0
    assert "items read from its folder" in out + err
    assert "loaded all right" in out and "wrong caught" in out
    assert "0.50" in out and "0.67" in out


def test_other_labels_files_keep_scoring_the_crews_own_items(project_dir: Path, known_answers, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "data" / "labels.csv").write_text("file,category\n0001-double-charge.eml,billing\n")
    code, out, err = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/known")
    assert code == 0, err
    assert "1 labelled items from data/labels.csv, fields" in out + err
    assert "items read from" not in out + err, "data/ is a parent of the source folder: the crew's own items"


def test_a_label_for_an_item_missing_beside_it_exits_2(heldout: Path, known_answers, cli) -> None:  # type: ignore[no-untyped-def]
    (heldout / "labels.csv").write_text(LABELS + "0001-double-charge.eml,billing,medium\n")
    code, _, err = cli("eval", "--labels", "data/heldout/labels.csv", "--model", "scripted/known")
    assert code == 2
    assert "data/heldout/labels.csv:6: column 'file': '0001-double-charge.eml' matches no item" in err
    assert known_answers.history == [], "nothing ran"


def test_validate_checks_a_test_set_named_in_the_crew(heldout: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (heldout / "labels.csv").write_text(LABELS.replace("a-right.eml,billing", "a-right.eml,refunds"))
    crews = heldout.parent.parent / "config" / "crews.yaml"
    edit_config(crews, "test: data/inbox_test/labels.csv}", "test: data/heldout/labels.csv}")
    code, _, err = cli("validate")
    assert code == 2
    assert "data/heldout/labels.csv:2: column 'category': 'refunds' is not one of" in err


def test_validate_refuses_a_test_set_for_a_crew_with_two_sources(heldout: Path, cli) -> None:  # type: ignore[no-untyped-def]
    crews = heldout.parent.parent / "config" / "crews.yaml"
    edit_config(crews, "test: data/inbox_test/labels.csv}", "test: data/heldout/labels.csv}")
    edit_config(crews, "      truncate: true\n", "      truncate: true\n"
                "    - {name: more, type: files, path: data/docs, patterns: ['*.md']}\n")
    code, _, err = cli("validate")
    assert code == 2
    assert "data/heldout/labels.csv" in err and "2 sources" in err and "Traceback" not in err


def test_the_shipped_test_set_reads(project_dir: Path) -> None:
    from etlcrew.evaluation.label_files import read_crew_labels
    from etlcrew.settings import load_settings
    from etlcrew.specs.loader import load_project

    settings = load_settings(load_dotenv_file=False)
    project = load_project(settings.config_dir)
    labels = read_crew_labels(settings, project, "support_inbox", "data/inbox_test/labels.csv")
    assert len(labels.expected) >= 40
    assert labels.fields == ("category", "urgency", "product", "sentiment")
    assert all(item_id.startswith("inbox:") for item_id in labels.expected)
