"""Score several models side by side on a crew's labelled items: the ``eval`` command's one JSON object.

Labels are read and checked against the crew's items before any model is called (bad labels: exit 2). Per
model: accuracy per field, a confusion table for enum fields, how many records were loaded and how right those
were, then calls, tokens, cost and seconds, and seconds and cost per correct record (all checked fields right),
and every wrong value (``misses``), so a prompt change can be judged item by item, not only in totals. With a
``needs_action`` column, the run's action list is scored too (``evaluation.actions``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from etlcrew.evaluation.label_files import labels_path

if TYPE_CHECKING:
    from etlcrew.evaluation.labels import LabelSet
    from etlcrew.evaluation.scoring import Miss, Score
    from etlcrew.evaluation.session import ModelRun
    from etlcrew.settings import Settings
    from etlcrew.specs.project import ProjectSpec
    from etlcrew.tools.registry import ToolInfo


def eval_project(settings: Settings, project: ProjectSpec, crew: str, given: str | None) -> ProjectSpec:
    """The project ``eval`` runs: ``labelled_project``, and when that moves the crew to the items beside a
    ``labels.csv``, the crew's examples from reviews are taken first from its own items (the reviewed file names
    those, not the test items) and the option is then off for the run."""
    from etlcrew.evaluation.items import items_folder, reading_from
    from etlcrew.pipeline.review_examples import with_review_examples

    path, shown = labels_path(settings, project, crew, given)
    folder = items_folder(project, crew, path, shown, settings.project_dir)
    if folder is None:
        return project
    taught = with_review_examples(settings, project, crew)
    spec = taught.crews[crew]
    if spec.output_schema is not None and spec.output_schema.examples_from_reviews is not None:
        schema = spec.output_schema.model_copy(update={"examples_from_reviews": None})
        taught = replace(taught, crews={**taught.crews, crew: spec.model_copy(update={"output_schema": schema})})
    return reading_from(taught, crew, folder)


def result_row(run: ModelRun, score: Score, actions: dict[str, bool] | None = None) -> dict[str, Any]:
    """One model's row of ``eval --json``; ``actions`` are the labels' needs_action values (scored when given)."""
    from etlcrew.evaluation.actions import score_actions

    llm, seconds = run.result.llm, round(run.result.duration_s, 1)
    correct = score.correct_records
    return {
        "model": run.model,
        "fields": {name: field.as_dict() for name, field in score.fields.items()},
        "items": score.items, "correct_records": correct,
        "loaded": score.loaded, "loaded_accuracy": score.loaded_accuracy,
        "loaded_records_all_right": score.loaded_records_all_right, "wrong_values_caught": score.wrong_values_caught,
        "review": run.review, "quarantined": run.quarantined,
        "calls": llm["calls"], "prompt_tokens": llm["prompt_tokens"], "completion_tokens": llm["completion_tokens"],
        "cost_usd": llm["cost_usd"], "seconds": seconds,
        "seconds_per_item": round(seconds / score.items, 1) if score.items else None,
        "seconds_per_correct_record": round(seconds / correct, 1) if correct else None,
        "cost_per_correct_record": round(llm["cost_usd"] / correct, 6) if correct and llm["cost_usd"] is not None
        else None,
        "actions": score_actions(actions, run.actions or []).as_dict() if actions else None,
        "misses": [_miss_row(miss, run.confidence.get(miss.item_id, {})) for miss in score.misses],
    }


def _miss_row(miss: Miss, confidence: dict[str, float]) -> dict[str, Any]:
    """A wrong value as JSON, with the model's probability for the value it wrote when it gave one."""
    return {"item_id": miss.item_id, "field": miss.field, "expected": miss.expected, "produced": miss.produced,
            "confidence": confidence.get(miss.field)}


def evaluate(settings: Settings, project: ProjectSpec, tools: dict[str, ToolInfo], crew: str,
             inputs: dict[str, object], labels: LabelSet, models: list[str | None], limit: int | None = None
             ) -> dict[str, Any]:
    """Run each model on the labelled items (the first ``limit`` of them, in label order) and score it."""
    from etlcrew.evaluation.scoring import score
    from etlcrew.evaluation.session import run_labelled

    ids = tuple(labels.expected)[:limit] if limit else tuple(labels.expected)
    schema = project.crews[crew].output_schema
    assert schema is not None
    results = []
    for model in models:
        run = run_labelled(settings, project, tools, crew, inputs, ids, model)
        only = _only(labels, ids)
        results.append(result_row(run, score(only, schema, run.records, run.loaded), only.actions))
    return {"crew": crew, "labels": labels.file, "items": len(ids), "results": results}


def _only(labels: LabelSet, ids: tuple[str, ...]) -> LabelSet:
    return replace(labels, expected={i: labels.expected[i] for i in ids}, lines={i: labels.lines[i] for i in ids},
                   actions={i: labels.actions[i] for i in ids if i in labels.actions})
