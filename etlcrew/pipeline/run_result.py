"""What a run reports: the one JSON object of ``run --json`` and the human summary are both built from this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RunStatus = Literal["running", "succeeded", "partial", "failed", "interrupted", "stopped-by-budget"]


@dataclass
class ItemCounts:
    """extracted = loaded + review + quarantined + skipped + pending; pending is 0 once a run has finished.

    ``review``: valid records held back from the table for a person to check (``pipeline.review``).
    """

    extracted: int = 0
    loaded: int = 0
    quarantined: int = 0
    skipped: int = 0
    review: int = 0

    @property
    def pending(self) -> int:
        """Items not yet loaded, held for review or quarantined: the run stopped early and can be resumed."""
        return max(0, self.extracted - self.loaded - self.review - self.quarantined - self.skipped)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__) | {"pending": self.pending}


@dataclass
class RunResult:
    run_id: str
    crew: str
    process: str
    status: RunStatus = "running"
    items: ItemCounts = field(default_factory=ItemCounts)
    llm: dict[str, Any] = field(default_factory=lambda: {"calls": 0, "failed_calls": 0, "prompt_tokens": 0,
                                                         "completion_tokens": 0, "cost_usd": 0.0})
    models: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id, "crew": self.crew, "status": self.status, "items": self.items.as_dict(),
            "llm": self.llm, "outputs": self.outputs, "duration_s": round(self.duration_s, 3),
            "process": self.process, "models": self.models,
        }
        if self.error:
            data["error"] = self.error
        return data
