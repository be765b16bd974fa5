"""The facts a run's display shows, kept up to date from the run's events (``observe.events``).

Items move as phases finish, not only when a load lands: each batch counts its items through every phase it
has finished. The ETA appears once one batch has finished (it tells how many phases a batch goes through) and
the sources have been read to the end (the total is known); it is the pace of phase work since the first batch
began. ``running`` counts batches being worked on; batches handed to the executor and still waiting are
``queued``. ``at work`` lists the phase and agent of each running batch, grouped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from etlcrew.observe.events import RunEvent


@dataclass
class BatchProgress:
    """One batch as the display knows it."""

    items: int
    running: bool = False
    finished: bool = False
    reused: bool = False  # finished before a resume: no work left but loading
    phases: list[str] = field(default_factory=list)  # phases finished, in order
    phase: str | None = None  # under way
    agent: str | None = None


@dataclass
class RunProgress:
    """Counts, phases and pace of one run."""

    crew: str = ""
    started: float = field(default_factory=time.monotonic)
    work_started: float | None = None  # when the first batch began: the ETA's pace is measured from here
    total_items: int | None = None
    batches: dict[int | None, BatchProgress] = field(default_factory=dict)
    loaded: int = 0
    quarantined: int = 0
    review: int = 0
    skipped: int = 0
    landed_items: int = 0  # items of landed batches this run did not start (an earlier attempt, bad input)
    without_batch: int = 0  # items that need no batch: landed by an earlier attempt, or bad at their source
    landed_batches: set[int | None] = field(default_factory=set)
    calls: int = 0
    failed_calls: int = 0
    tokens: int = 0

    def update(self, event: RunEvent) -> None:
        detail = event.detail or {}
        kind = event.type
        if kind == "run_started":
            self.crew = detail.get("crew", "")
        elif kind == "items_total":
            self.total_items = detail["total"]
            self.skipped = detail.get("skipped", self.skipped)
            self.without_batch = detail.get("without_batch", 0)
        elif kind in ("batch_started", "batch_running", "phase_done", "batch_done"):
            self._batch_event(event)
        elif kind == "landed":
            self._landed(detail)
        elif kind == "llm_call":
            self.calls += 1
            self.tokens += (event.prompt_tokens or 0) + (event.completion_tokens or 0)
        elif kind == "llm_call_failed":
            self.failed_calls += 1
        elif kind in ("task_started", "agent_started"):
            batch = self._batch(event.batch)
            if event.phase and event.phase != batch.phase:
                batch.phase, batch.agent = event.phase, None
            batch.agent = event.agent or batch.agent

    def _batch(self, number: int | None) -> BatchProgress:
        """A batch seen first through an agent's event (a crew without sources has one, numbered None)."""
        return self.batches.setdefault(number, BatchProgress(0, running=True))

    def _batch_event(self, event: RunEvent) -> None:
        detail = event.detail or {}
        if event.type == "batch_started":
            self.batches[event.batch] = BatchProgress(int(detail.get("items") or 0))
            return
        batch = self._batch(event.batch)
        if event.type == "batch_running":
            batch.running = True
            if self.work_started is None:
                self.work_started = time.monotonic()
        elif event.type == "phase_done" and event.phase and event.phase not in batch.phases:
            batch.phases.append(event.phase)
        elif event.type == "batch_done":
            batch.finished, batch.running, batch.phase, batch.agent = True, False, None, None
            batch.reused = bool(detail.get("reused"))

    def _landed(self, detail: dict) -> None:  # type: ignore[type-arg]
        self.loaded, self.quarantined = detail["loaded"], detail["quarantined"]
        self.review = detail.get("review", self.review)
        self.skipped = detail.get("skipped", self.skipped)
        self.landed_batches.update(detail.get("batches", []))  # the totals above count every land of the run
        ours = sum(self.batches[n].items for n in self.landed_batches if n in self.batches)
        self.landed_items = max(0, self.loaded + self.review + self.quarantined - ours)

    @property
    def items_done(self) -> int:
        """Items through every phase (their batch finished), skipped, or landed without a batch of this run."""
        finished = sum(b.items for b in self.batches.values() if b.finished)
        return self.skipped + self.landed_items + finished

    @property
    def running(self) -> int:
        return sum(1 for b in self.batches.values() if b.running)

    @property
    def queued(self) -> int:
        return sum(1 for b in self.batches.values() if not (b.running or b.finished))

    @property
    def finished(self) -> int:
        return sum(1 for b in self.batches.values() if b.finished)

    def items_per_phase(self) -> list[tuple[str, int]]:
        """Items through each phase so far, phases in the order they were first seen."""
        counts: dict[str, int] = {}
        for batch in self.batches.values():
            for phase in batch.phases:
                counts[phase] = counts.get(phase, 0) + batch.items
        return list(counts.items())

    def at_work(self) -> str:
        """What the running batches are doing, e.g. ``transform (Transformer) x2, load (Publisher)``."""
        groups: dict[str, int] = {}
        for batch in self.batches.values():
            if batch.running and batch.phase:
                name = f"{batch.phase} ({batch.agent})" if batch.agent else batch.phase
                groups[name] = groups.get(name, 0) + 1
        return ", ".join(name + (f" x{n}" if n > 1 else "") for name, n in groups.items()) or "-"

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left at the pace of phase work so far; None until a batch finished and the total is known."""
        worked = [b for b in self.batches.values() if b.items and not b.reused]
        steps = max((len(b.phases) for b in worked if b.finished), default=0)
        if self.total_items is None or not steps or self.work_started is None:
            return None
        batched = sum(b.items for b in self.batches.values())
        unseen = max(0, self.total_items - self.skipped - max(self.without_batch, self.landed_items) - batched)
        total = (sum(b.items for b in worked) + unseen) * steps
        done = sum(b.items * (steps if b.finished else min(len(b.phases), steps)) for b in worked)
        if not done or done >= total:
            return None
        return (time.monotonic() - self.work_started) / done * (total - done)

    def line(self) -> str:
        """The facts on one line, for logs."""
        total = f"/{self.total_items}" if self.total_items is not None else ""
        eta = self.eta()
        parts = [f"items {self.items_done}{total}", f"batches {self.finished}/{len(self.batches)}",
                 f"calls {self.calls}", f"tokens {self.tokens:,}", f"review {self.review}",
                 f"quarantined {self.quarantined}",
                 f"{self.elapsed():.0f}s" + (f", ETA {eta:.0f}s" if eta is not None else "")]
        return "  ".join(parts)
