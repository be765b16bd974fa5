"""Scoring produced records against labels: exact figures per field, confusion of enums, loaded-record accuracy."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from etlcrew.evaluation.labels import LabelSet, read_labels
from etlcrew.evaluation.scoring import FieldScore, Miss, Score, matches, score
from etlcrew.specs.datapath import FieldSpec, SchemaSpec

SCHEMA = SchemaSpec.model_validate({"table": "tickets", "fields": {
    "category": {"type": "enum", "values": ["billing", "bug", "other"]},
    "urgency": {"type": "enum", "values": ["low", "urgent"]},
    "summary": {"type": "string"},
    "count": {"type": "integer", "required": False},
    "tags": {"type": "list", "required": False},
}})
IDS = ["inbox:a.eml", "inbox:b.eml", "inbox:c.eml", "inbox:d.eml"]


def labels_from(tmp_path: Path, text: str) -> LabelSet:
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return read_labels(path, "labels.csv", SCHEMA, IDS)


@pytest.fixture
def labels(tmp_path: Path) -> LabelSet:
    return labels_from(tmp_path, "file,category,urgency,summary\n"
                                 "a.eml,bug,low,App crashes on start\n"
                                 "b.eml,bug,urgent,\n"
                                 "c.eml,billing,low,Charged twice\n")


def test_three_items_scored_with_exact_figures(labels):
    records = {
        "inbox:a.eml": {"category": "bug", "urgency": "low", "summary": "  app CRASHES  on start", "extra": 1},
        "inbox:b.eml": {"category": "billing", "urgency": "urgent"},
        "inbox:c.eml": {"category": "billing", "urgency": None, "summary": "charged twice"},
    }
    result = score(labels, SCHEMA, records, loaded=["inbox:a.eml", "inbox:b.eml", "inbox:z.eml"])
    assert result.items == 3
    assert result.fields["category"].as_dict() == {
        "accuracy": 0.6667, "correct": 2, "total": 3,
        "confusion": {"bug": {"bug": 1, "billing": 1}, "billing": {"billing": 1}}}
    assert result.fields["urgency"].as_dict() == {
        "accuracy": 0.6667, "correct": 2, "total": 3,
        "confusion": {"low": {"low": 1, "(none)": 1}, "urgent": {"urgent": 1}}}
    assert result.fields["summary"].as_dict() == {"accuracy": 1.0, "correct": 2, "total": 2, "confusion": None}
    assert list(result.fields) == ["category", "urgency", "summary"]
    assert result.correct_records == 1
    assert (result.loaded, result.loaded_correct_values, result.loaded_checked_values) == (2, 4, 5)
    assert result.loaded_accuracy == 0.8
    assert result.misses == [Miss("inbox:b.eml", "category", "bug", "billing"),
                             Miss("inbox:c.eml", "urgency", "low", "(none)")]


def test_missing_records_count_as_wrong_on_every_checked_field(labels):
    records = {"inbox:a.eml": None, "inbox:b.eml": {"category": "bug"}}  # c.eml has no entry at all
    result = score(labels, SCHEMA, records, loaded=[])
    assert result.fields["category"].as_dict() == {
        "accuracy": 0.3333, "correct": 1, "total": 3,
        "confusion": {"bug": {"(none)": 1, "bug": 1}, "billing": {"(none)": 1}}}
    assert result.fields["urgency"].correct == 0  # b.eml's record has no urgency: wrong, not skipped
    assert result.fields["urgency"].confusion == {"low": {"(none)": 2}, "urgent": {"(none)": 1}}
    assert result.fields["summary"].as_dict() == {"accuracy": 0.0, "correct": 0, "total": 2, "confusion": None}
    assert result.correct_records == 0
    assert result.loaded == 0
    assert result.loaded_accuracy is None


def test_a_record_with_nothing_checked_is_correct_only_if_it_exists(tmp_path):
    labels = labels_from(tmp_path, "file,category\na.eml,\nb.eml,\n")
    result = score(labels, SCHEMA, {"inbox:a.eml": {"category": "bug"}, "inbox:b.eml": None}, loaded={"inbox:a.eml"})
    assert result.items == 2
    assert result.fields["category"] == FieldScore(correct=0, total=0, confusion={})
    assert result.fields["category"].accuracy == 0.0
    assert result.correct_records == 1
    assert (result.loaded, result.loaded_checked_values, result.loaded_accuracy) == (1, 0, 0.0)


def test_numbers_compare_within_tolerance(tmp_path):
    labels = labels_from(tmp_path, "file,count\na.eml,3\nb.eml,3\nc.eml,3\nd.eml,3\n")
    records = {"inbox:a.eml": {"count": 3}, "inbox:b.eml": {"count": "3.004"},
               "inbox:c.eml": {"count": 3.01}, "inbox:d.eml": {"count": True}}
    result = score(labels, SCHEMA, records, loaded=IDS)
    assert result.fields["count"].as_dict() == {"accuracy": 0.5, "correct": 2, "total": 4, "confusion": None}
    assert result.loaded_accuracy == 0.5


def test_loaded_accuracy_rounds_to_four_places():
    result = Score(items=3, fields={}, correct_records=0, loaded=3, loaded_correct_values=1, loaded_checked_values=7)
    assert result.loaded_accuracy == 0.1429
    assert FieldScore(correct=2, total=3).accuracy == 0.6667


@pytest.mark.parametrize(("spec", "expected", "produced", "result"), [
    ({"type": "enum", "values": ["bug", "Bug"]}, "bug", "bug", True),
    ({"type": "enum", "values": ["bug", "Bug"]}, "bug", "Bug", False),
    ({"type": "enum", "values": ["bug"]}, "bug", " bug", False),
    ({"type": "string"}, "Charged  twice", " charged\ntwice ", True),
    ({"type": "string"}, "Charged twice", "charged twice!", False),
    ({"type": "string"}, "42", 42, True),
    ({"type": "integer"}, "3", 3.0, True),
    ({"type": "integer"}, "3", "3", True),
    ({"type": "number"}, "2.5", 2.505, True),
    ({"type": "number"}, "2.5", 2.506, False),
    ({"type": "number"}, "2.5", "two", False),
    ({"type": "number"}, "1", True, False),
    ({"type": "boolean"}, "yes", True, True),
    ({"type": "boolean"}, "TRUE", "1", True),
    ({"type": "boolean"}, "0", "No", True),
    ({"type": "boolean"}, "false", 0, True),
    ({"type": "boolean"}, "false", "true", False),
    ({"type": "boolean"}, "false", "nope", False),
    ({"type": "date"}, "2024-05-31", "2024-05-31", True),
    ({"type": "date"}, "2024-05-31", date(2024, 5, 31), True),
    ({"type": "date"}, "2024-05-31", "2024-05-31T09:00:00", True),
    ({"type": "date"}, "2024-05-31", "2024-06-01", False),
    ({"type": "date"}, "2024-05-31", "31 May", False),
    ({"type": "datetime"}, "2024-05-31T14:30:00", "2024-05-31 14:30", True),
    ({"type": "datetime"}, "2024-05-31T14:30:00", datetime(2024, 5, 31, 14, 30), True),
    ({"type": "datetime"}, "2024-05-31T14:30:00+02:00", "2024-05-31T12:30:00Z", True),
    ({"type": "datetime"}, "2024-05-31T14:30:00+02:00", "2024-05-31T14:30:00", False),
    ({"type": "datetime"}, "2024-05-31T14:30:00", "2024-05-31T14:31:00", False),
])
def test_matches_by_type(spec, expected, produced, result):
    assert matches(FieldSpec.model_validate(spec), expected, produced) is result


@pytest.mark.parametrize("field_type", ["string", "integer", "number", "boolean", "date", "datetime"])
def test_none_never_matches(field_type):
    assert matches(FieldSpec(type=field_type), "", None) is False
    assert matches(FieldSpec(type=field_type), "0", None) is False


def test_loaded_records_all_right_and_wrong_values_caught_by_review(labels):
    records = {
        "inbox:a.eml": {"category": "bug", "urgency": "low", "summary": "App crashes on start"},  # loaded, right
        "inbox:b.eml": {"category": "billing", "urgency": "low"},  # held: 2 wrong values
        "inbox:c.eml": {"category": "billing", "urgency": "urgent", "summary": "charged twice"},  # loaded: 1 wrong
    }
    result = score(labels, SCHEMA, records, loaded=["inbox:a.eml", "inbox:c.eml"])
    assert (result.loaded_all_right, result.wrong_held, result.wrong_loaded) == (1, 2, 1)
    assert result.loaded_records_all_right == 0.5
    assert result.wrong_values_caught == 0.6667


def test_no_record_is_neither_caught_nor_let_through_and_nothing_wrong_is_none(labels):
    result = score(labels, SCHEMA, {"inbox:a.eml": None}, loaded=[])
    assert (result.wrong_held, result.wrong_loaded) == (0, 0), "a quarantined item has no value to hold"
    assert result.wrong_values_caught is None and result.loaded_records_all_right is None
    right = {"inbox:a.eml": {"category": "bug", "urgency": "low", "summary": "App crashes on start"}}
    only_a = labels_from_rows(labels, ["inbox:a.eml"])
    assert score(only_a, SCHEMA, right, loaded=["inbox:a.eml"]).wrong_values_caught is None


def labels_from_rows(labels: LabelSet, ids: list[str]) -> LabelSet:
    from dataclasses import replace

    return replace(labels, expected={i: labels.expected[i] for i in ids}, lines={i: labels.lines[i] for i in ids})
