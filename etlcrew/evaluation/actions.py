"""Score a run's action list against the labels' ``needs_action`` column: precision, recall, missed and extra ids.

Only labelled items count: an id the run listed that has no ``needs_action`` label is neither right nor wrong.
Precision is ``None`` when the run listed nothing, recall ``None`` when no labelled item needs action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ActionScore:
    precision: float | None
    recall: float | None
    missed: list[str]  # labelled true, not listed
    extra: list[str]  # listed, labelled false

    def as_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "missed": self.missed, "extra": self.extra}


def score_actions(labels: Mapping[str, bool], listed: Iterable[str]) -> ActionScore:
    """The action list ``listed`` against ``labels`` (item_id -> needs_action)."""
    chosen = {item_id for item_id in listed if item_id in labels}
    wanted = {item_id for item_id, needs in labels.items() if needs}
    right = chosen & wanted
    return ActionScore(round(len(right) / len(chosen), 3) if chosen else None,
                       round(len(right) / len(wanted), 3) if wanted else None,
                       sorted(wanted - chosen), sorted(chosen - wanted))
