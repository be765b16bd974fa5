"""Compare the records a model produced with the labels: per-field accuracy, enum confusion, loaded-record accuracy.

Comparison is lenient where a model's wording may differ harmlessly (case and spacing of strings, 3 vs 3.0, yes vs
true, the same instant in another offset) and exact where the schema fixes the vocabulary (enums).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any

from etlcrew.evaluation.values import parse_boolean, parse_datetime, parse_number
from etlcrew.specs.datapath import FieldSpec, SchemaSpec

if TYPE_CHECKING:
    from etlcrew.evaluation.labels import LabelSet

NONE = "(none)"  # the produced value in a confusion matrix when there is no record or the field is null
NUMBER_TOLERANCE = 0.005


def _same(expected: Any, produced: Any) -> bool:
    """Equality that cannot raise: naive and aware datetimes compare unequal, they do not fail."""
    try:
        return bool(expected == produced)
    except TypeError:
        return False


def matches(spec: FieldSpec, expected: str, produced: Any) -> bool:
    """Whether the produced value counts as the expected label for a field of this type."""
    if produced is None:
        return False
    try:
        if spec.type in ("integer", "number"):
            return abs(parse_number(expected) - parse_number(produced)) <= NUMBER_TOLERANCE
        if spec.type == "boolean":
            return parse_boolean(expected) == parse_boolean(produced)
        if spec.type == "date":
            return parse_datetime(expected).date() == parse_datetime(produced).date()
        if spec.type == "datetime":
            return _same(parse_datetime(expected), parse_datetime(produced))
    except ValueError:
        return False
    if spec.type == "enum":
        return str(produced) == expected
    return _fold(expected) == _fold(str(produced))


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass
class FieldScore:
    """How often one field was right; enum fields also count what was produced for each expected value."""

    correct: int = 0
    total: int = 0
    confusion: dict[str, dict[str, int]] | None = None

    @property
    def accuracy(self) -> float:
        return round(self.correct / self.total, 4) if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "correct": self.correct, "total": self.total, "confusion": self.confusion}


@dataclass(frozen=True)
class Miss:
    """One wrong value: which item, which field, what the label says and what the model produced (or NONE)."""

    item_id: str
    field: str
    expected: str
    produced: str


@dataclass
class Score:
    """One model's figures on a label set; ``loaded_*`` covers only the records that reached the main table.

    ``wrong_held`` and ``wrong_loaded`` count the wrong values of records held for review and of loaded records:
    how well the review gate catches mistakes. An item with no record (quarantined) is in neither: it has no
    value a gate could hold or let through."""

    items: int
    fields: dict[str, FieldScore]
    correct_records: int
    loaded: int
    loaded_correct_values: int
    loaded_checked_values: int
    misses: list[Miss] = dataclass_field(default_factory=list)  # every wrong value, in label order
    loaded_all_right: int = 0  # loaded records with every checked field right
    wrong_held: int = 0
    wrong_loaded: int = 0

    @property
    def loaded_records_all_right(self) -> float | None:
        """Share of loaded records with every checked field right (None: nothing loaded)."""
        return round(self.loaded_all_right / self.loaded, 4) if self.loaded else None

    @property
    def wrong_values_caught(self) -> float | None:
        """Share of the wrong values in produced records that sat in records held for review (None: none wrong)."""
        wrong = self.wrong_held + self.wrong_loaded
        return round(self.wrong_held / wrong, 4) if wrong else None

    @property
    def loaded_accuracy(self) -> float | None:
        if not self.loaded:
            return None
        if not self.loaded_checked_values:
            return 0.0
        return round(self.loaded_correct_values / self.loaded_checked_values, 4)


def score(labels: LabelSet, schema: SchemaSpec, records: Mapping[str, Mapping[str, Any] | None],
          loaded: Collection[str]) -> Score:
    """Score every labelled item; an item with no record (or no entry in ``records``) is wrong on every field."""
    loaded = set(loaded)
    specs = {name: schema.fields.get(name) or FieldSpec() for name in labels.fields}
    fields = {name: FieldScore(confusion={} if spec.type == "enum" else None) for name, spec in specs.items()}
    result = Score(items=0, fields=fields, correct_records=0, loaded=0, loaded_correct_values=0,
                   loaded_checked_values=0)
    for item_id, expected in labels.expected.items():
        record = records.get(item_id)
        right = 0
        for name, value in expected.items():
            produced = record.get(name) if record is not None else None
            ok = matches(specs[name], value, produced)
            right += ok
            tally = fields[name]
            tally.total += 1
            tally.correct += ok
            shown = NONE if produced is None else str(produced)
            if not ok:
                result.misses.append(Miss(item_id, name, value, shown))
            if tally.confusion is not None:
                row = tally.confusion.setdefault(value, {})
                row[shown] = row.get(shown, 0) + 1
        result.items += 1
        result.correct_records += record is not None and right == len(expected)
        if item_id in loaded:
            result.loaded += 1
            result.loaded_correct_values += right
            result.loaded_checked_values += len(expected)
            result.loaded_all_right += right == len(expected)
            result.wrong_loaded += len(expected) - right
        elif record is not None:
            result.wrong_held += len(expected) - right
    return result

