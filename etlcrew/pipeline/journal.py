"""One run's batches in the ledger: members, finished phase outputs and outcomes, so a resume redoes nothing.

A batch moves ``running`` (members known, phases commit one by one) → ``done`` (validated records and
quarantined items committed) → ``landed`` (written to the targets, item outcomes in the ledger). Resume reuses
every committed phase and outcome; only a batch whose members' content changed since is run again from scratch.
Items quarantined by their source (unreadable, too large...) land as pseudo-batches with negative numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from etlcrew.pipeline.records import QuarantineRow
from etlcrew.pipeline.review import ReviewRow

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.observe.events import EventHub


@dataclass
class BatchOutcome:
    """What one batch produced, ready to load: records, quarantined items, records held for review (the run's
    digest is written once, after the last batch lands: ``pipeline.outcome``)."""

    batch_no: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[QuarantineRow] = field(default_factory=list)
    review: list[ReviewRow] = field(default_factory=list)
    confidence: dict[str, dict[str, float]] = field(default_factory=dict)  # item_id -> enum field -> probability

    def to_json(self) -> str:
        return json.dumps({"records": self.records, "quarantined": [asdict(q) for q in self.quarantined],
                           "review": [asdict(r) for r in self.review], "confidence": self.confidence}, default=str)

    @classmethod
    def from_json(cls, batch_no: int, text: str) -> BatchOutcome:
        data = json.loads(text)
        return cls(batch_no, data["records"], [QuarantineRow(**q) for q in data["quarantined"]],
                   [ReviewRow(**r) for r in data.get("review", [])], data.get("confidence", {}))


@dataclass
class StoredBatch:
    """A batch as the ledger has it: members (item_id, content hash), committed phases, outcome."""

    batch_no: int
    members: list[tuple[str, str]]
    phases: dict[str, str]
    state: str
    outcome: BatchOutcome | None


class RunJournal:
    """The ledger, seen from one run; every method commits before it returns."""

    def __init__(self, ledger: Ledger, run_id: str, events: EventHub | None = None) -> None:
        self.ledger, self.run_id = ledger, run_id
        self.events = events

    def emit(self, type_: str, **fields: object) -> None:
        if self.events is not None:
            self.events.emit(type_, **fields)

    def begin(self, batch_no: int, members: list[tuple[str, str]]) -> None:
        self.ledger.add_batch(self.run_id, batch_no, members)

    def phase_done(self, batch_no: int, phase: str, output: str) -> None:
        from etlcrew.pipeline import failpoints

        self.ledger.save_phase(self.run_id, batch_no, phase, output)
        self.emit("phase_done", batch=batch_no, phase=phase)
        failpoints.hit(f"phase:{phase}")

    def part_done(self, batch_no: int, key: str, output: str) -> None:
        """One transform part of a batch, kept so a resumed batch does not ask for it again (no event: the
        transform phase is done only when every part is)."""
        self.ledger.save_phase(self.run_id, batch_no, key, output)

    def outcome_done(self, outcome: BatchOutcome) -> None:
        from etlcrew.pipeline import failpoints

        self.ledger.save_outcome(self.run_id, outcome.batch_no, outcome.to_json())
        self.emit("batch_done", batch=outcome.batch_no,
                  detail={"records": len(outcome.records), "quarantined": len(outcome.quarantined)})
        failpoints.hit("batch-done")

    def reused(self, outcome: BatchOutcome) -> None:
        """A batch whose outcome an earlier attempt committed: nothing to run, only loading is left."""
        self.emit("batch_done", batch=outcome.batch_no, detail={"records": len(outcome.records),
                                                               "quarantined": len(outcome.quarantined), "reused": True})

    def landed(self, batch_nos: list[int]) -> None:
        self.ledger.mark_landed(self.run_id, batch_nos)

    def stored(self) -> dict[int, StoredBatch]:
        """Every batch of the run so far, by number."""
        found = {}
        for row in self.ledger.batches(self.run_id):
            number = row["batch_no"]
            outcome = BatchOutcome.from_json(number, row["outcome_json"]) if row["outcome_json"] else None
            found[number] = StoredBatch(number, [(i, h) for i, h in row["items"]], row["phases"], row["state"],
                                        outcome)
        return found

    def landed_outcomes(self) -> list[BatchOutcome]:
        """The outcomes written to the targets, in batch order: the run's records for the report and webhooks."""
        return [b.outcome for b in sorted(self.stored().values(), key=lambda b: b.batch_no)
                if b.state == "landed" and b.outcome is not None]
