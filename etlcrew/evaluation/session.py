"""Run a crew on its labelled items with one model, away from everything a real run touches.

The run gets a throwaway state folder (ledger, dlt) and output folder, and no targets: it never writes the
crew's tables, reports or webhooks, and never changes what a later ``run`` skips. It always processes the
labelled items (``full_refresh``), and nothing else (``only_items``). Every item's record is collected from the
run's ledger wherever it went: the table, review, or quarantine (no record). The run's action list is its
outcome's (``pipeline.outcome``): the same rule or publisher call as a real run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etlcrew import console

if TYPE_CHECKING:
    from etlcrew.pipeline.run_result import RunResult
    from etlcrew.settings import Settings
    from etlcrew.specs.project import ProjectSpec
    from etlcrew.tools.registry import ToolInfo


@dataclass
class ModelRun:
    """What one model produced for the labelled items, and what it cost."""

    model: str
    records: dict[str, dict[str, Any] | None]  # item_id -> its record, wherever it went (None: no valid record)
    loaded: set[str]  # item_ids whose record went to the table
    review: int
    quarantined: int
    result: RunResult
    confidence: dict[str, dict[str, float]]  # item_id -> enum field -> probability, when the model gave logprobs
    actions: list[str] | None = None  # the run's action list (its outcome), None when it wrote no outcome


def run_labelled(settings: Settings, project: ProjectSpec, tools: dict[str, ToolInfo], crew: str,
                 inputs: dict[str, object], item_ids: tuple[str, ...], model: str | None) -> ModelRun:
    """Run ``crew`` on ``item_ids`` with ``model`` (``None``: the crew's own choice) in a temp state folder."""
    from etlcrew.ledger import open_ledger
    from etlcrew.pipeline.journal import BatchOutcome
    from etlcrew.pipeline.options import RunOptions
    from etlcrew.pipeline.runner import run_crew

    spec = project.crews[crew]
    isolated_project = replace(project, crews={**project.crews, crew: spec.model_copy(update={"targets": []})})
    options = RunOptions(crew=crew, inputs=inputs, model=model, full_refresh=True, only_items=item_ids)
    with tempfile.TemporaryDirectory(prefix="etlcrew-eval-") as tmp:
        isolated = replace(settings, state_dir=Path(tmp) / "state", output_dir=Path(tmp) / "output")
        with console.foreign_output():  # CrewAI prints on stdout; ours is for the results
            result = run_crew(isolated, isolated_project, tools, options)
        ledger = open_ledger(isolated.state_dir)
        try:
            outcomes = [BatchOutcome.from_json(n, text) for n, text in ledger.outcomes(result.run_id)]
        finally:
            ledger.close()
    records: dict[str, dict[str, Any] | None] = dict.fromkeys(item_ids)
    loaded: set[str] = set()
    for outcome in outcomes:
        for record in outcome.records:
            records[record["item_id"]] = record
            loaded.add(record["item_id"])
        for held in outcome.review:
            records[held.item_id] = held.record
    confidence = {item_id: probs for o in outcomes for item_id, probs in o.confidence.items()}
    actions = list(result.outcome["action_item_ids"]) if result.outcome else None  # ``pipeline.outcome``
    return ModelRun(model or ", ".join(result.models), records, loaded,
                    sum(len(o.review) for o in outcomes), sum(len(o.quarantined) for o in outcomes), result,
                    confidence, actions)
