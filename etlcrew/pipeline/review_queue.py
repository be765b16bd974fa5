"""The review queue: items held for a person, what the model suggested for them, and a person's decision landed.

A held item's record and per-field confidence come from the ledger (the outcome of the batch that held it), so
the queue needs neither the model nor the target's tables. Its text is re-read from the source when shown (the
ledger keeps no raw text). Lowest confidence first: a record held because it looks unread (no probabilities)
counts as 0 and comes first.

A decision lands like a run's records: an accepted or corrected record is merged into the crew's tables
(``land_records``, the same dlt merge) and removed from ``<table>__review``; a discarded one is only removed.
Then the ledger records the decision (``ledger.reviews``) and ``data/<crew>_reviewed.csv`` is rewritten. Each
step is idempotent, so a crash between them is repaired by deciding again. Report and webhook targets are not
touched: they belong to runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etlcrew.errors import EtlcrewError
from etlcrew.ledger.reviews import Decision, held_items, latest_decisions, record_decision
from etlcrew.pipeline.review_values import reviewed_labels_path, write_reviewed_labels

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.settings import Settings
    from etlcrew.specs.datapath import SchemaSpec
    from etlcrew.specs.project import ProjectSpec


@dataclass
class HeldItem:
    """One item held for review: the model's record, its per-field probabilities and why it was held."""

    item_id: str
    run_id: str
    content_hash: str
    config_hash: str
    reason: str
    record: dict[str, Any]
    confidence: dict[str, float] = field(default_factory=dict)

    @property
    def lowest(self) -> float:
        """The lowest probability of its values; 0 when none is known (held as unread)."""
        return min(self.confidence.values()) if self.confidence else 0.0

    def suggestion(self, schema: SchemaSpec) -> dict[str, dict[str, Any]]:
        """Field -> the model's value and its probability (``None`` when unknown): kept beside the decision."""
        return {name: {"value": self.record.get(name), "probability": self.confidence.get(name)}
                for name in editable_fields(schema)}


@dataclass(frozen=True)
class SourceText:
    """An item's text as its source gives it now, and the file it came from when it is one file."""

    text: str
    source: str
    file: str | None
    content_hash: str = ""


def editable_fields(schema: SchemaSpec) -> list[str]:
    """The schema's fields a person decides, in order (``item_id`` is the key, not a value)."""
    return [name for name in schema.fields if name != "item_id"]


def held_queue(ledger: Ledger, crew: str) -> list[HeldItem]:
    """The crew's held items, lowest confidence first, from the outcomes of the runs that held them."""
    rows = held_items(ledger, crew)
    found: dict[str, HeldItem] = {}
    for run_id in sorted({row["run_id"] for row in rows}):
        wanted = {row["item_id"]: row for row in rows if row["run_id"] == run_id}
        for _, text in ledger.outcomes(run_id):
            outcome = json.loads(text)
            confidence = outcome.get("confidence", {})
            for held in outcome.get("review", []):
                row = wanted.get(held["item_id"])
                if row is not None:
                    found[row["item_id"]] = HeldItem(row["item_id"], run_id, row["content_hash"], row["config_hash"],
                                                     row["reason"] or held.get("reason") or "", held["record"],
                                                     dict(confidence.get(row["item_id"], {})))
    return sorted(found.values(), key=lambda h: (h.lowest, h.item_id))


def source_texts(settings: Settings, project: ProjectSpec, crew: str, item_ids: set[str] | None = None
                 ) -> dict[str, SourceText]:
    """item_id -> its text and file, re-read from the crew's sources (``None``: every item)."""
    from etlcrew.pipeline.sources import iter_items

    found: dict[str, SourceText] = {}
    for source in project.crews[crew].sources:
        for item in iter_items(source, settings.project_dir):
            if item_ids is None or item.item_id in item_ids:
                path = item.metadata.get("path")
                is_file = isinstance(path, str) and item.item_id == f"{item.source}:{path}"
                found[item.item_id] = SourceText(item.text or item.raw or "", item.source,
                                                 path if is_file else None, item.content_hash)
    return found


def readable_texts(settings: Settings, project: ProjectSpec, crew: str) -> dict[str, SourceText]:
    """``source_texts`` of every item, or none with a warning when a source cannot be read now: a person can
    still decide from the values and the reason."""
    from etlcrew import console

    try:
        return source_texts(settings, project, crew)
    except Exception as exc:
        console.warn(f"the sources cannot be read now, so no item text is shown: {exc}")
        return {}


def decide(settings: Settings, project: ProjectSpec, crew: str, ledger: Ledger, held: HeldItem, decision: str,
           final: dict[str, Any] | None, reviewer: str, files: dict[str, str | None]) -> None:
    """Land a person's decision on one held item: the record (unless discarded), out of review, in the ledger,
    then in the reviewed labels (``files``: item_id -> its file, for the labels' key column). Under the crew's
    lock, held for this one decision only: a run of the crew is not writing the same tables meanwhile."""
    from etlcrew.ledger.crew_lock import crew_lock

    with crew_lock(settings.state_dir, crew, f"review by {reviewer}"):
        _land_decision(settings, project, crew, ledger, held, decision, final, reviewer, files)


def _land_decision(settings: Settings, project: ProjectSpec, crew: str, ledger: Ledger, held: HeldItem,
                   decision: str, final: dict[str, Any] | None, reviewer: str, files: dict[str, str | None]) -> None:
    from etlcrew.pipeline.targets import land_records
    from etlcrew.pipeline.targets.review_rows import remove_from_review

    spec = project.crews[crew]
    schema = spec.output_schema
    assert schema is not None
    if decision != "discard":
        assert final is not None
        record = {"item_id": held.item_id} | final
        landed = land_records(crew, schema, list(spec.targets), [record], [], held.run_id, settings)
        if not landed.ok:
            raise EtlcrewError(f"target {landed.errors[0]}", hint="fix the target, then decide again") \
                from landed.cause
    remove_from_review(crew, schema, list(spec.targets), [held.item_id], settings)
    record_decision(ledger, Decision(crew, held.item_id, held.run_id, held.content_hash, held.config_hash,
                                     held.reason, held.suggestion(schema), decision, final, reviewer))
    write_reviewed_labels(reviewed_labels_path(settings.project_dir, crew), schema, latest_decisions(ledger, crew),
                          files)
