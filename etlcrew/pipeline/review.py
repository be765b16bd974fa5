"""Records that are valid but not trusted: they go to ``<table>__review`` with a reason instead of the table.

A grammar makes any model's output valid, not right. Two signs say a model did not read its items, and a
third that it was unsure:

- identical records for 3 or more items of a batch (apart from ``item_id``);
- a free-text value of ``REPEAT_MIN_CHARS`` or more repeated verbatim by different items of a batch;
- an enum value whose probability (from the model's token log-probabilities) is below the crew's
  ``review: {min_confidence: ...}``.

The batch runner retries degenerate items one by one once; what still looks degenerate goes to review. Only
the items of one batch are compared, so a summary repeated across two batches is not caught.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from etlcrew.specs.datapath import SchemaSpec

IDENTICAL_MIN_ITEMS = 3
REPEAT_MIN_CHARS = 20


@dataclass(frozen=True)
class ReviewRow:
    """A valid record held back for a person to check, with the reason it was not loaded."""

    item_id: str
    reason: str
    record: dict[str, Any]


def degenerate_items(records: Mapping[str, Mapping[str, Any]], schema: SchemaSpec) -> dict[str, str]:
    """item_id -> why its record looks like the model did not read the item (empty when all look read)."""
    reasons: dict[str, str] = {}
    by_content: dict[str, list[str]] = defaultdict(list)
    for item_id, record in records.items():
        by_content[repr(sorted((k, repr(v)) for k, v in record.items() if k != "item_id"))].append(item_id)
    for ids in by_content.values():
        if len(ids) >= IDENTICAL_MIN_ITEMS:
            for item_id in ids:
                reasons[item_id] = f"identical records for {len(ids)} different items"
    text_fields = [name for name, spec in schema.fields.items() if spec.type == "string"]
    for name in text_fields:
        seen: dict[str, list[str]] = defaultdict(list)
        for item_id, record in records.items():
            value = record.get(name)
            if isinstance(value, str) and len(value.strip()) >= REPEAT_MIN_CHARS:
                seen[" ".join(value.split()).casefold()].append(item_id)
        for ids in seen.values():
            if len(ids) > 1:
                for item_id in ids:
                    others = ", ".join(i for i in ids if i != item_id)
                    reasons.setdefault(item_id, f"{name} repeated verbatim by {others}")
    return reasons


def low_confidence(confidence: Mapping[str, float], threshold: float | None) -> str | None:
    """Why a record's enum values are not trusted (field and probability), or ``None``."""
    if threshold is None:
        return None
    low = {name: p for name, p in confidence.items() if p < threshold}
    if not low:
        return None
    shown = ", ".join(f"{name} {p:.2f}" for name, p in sorted(low.items()))
    return f"low confidence ({shown} < {threshold:g})"
