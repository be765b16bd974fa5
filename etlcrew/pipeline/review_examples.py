"""Corrections teach the crew: reviewed items shown to the model as few-shot examples.

``schema: {examples_from_reviews: {max: N}}`` adds up to N rows of ``data/<crew>_reviewed.csv`` (the ``eval``
labels format a person's reviews are written in) after the schema's own ``examples``; each example's text is the
item itself, read from the crew's source as the transform would see it (spaces collapsed, cut at
``chars_per_item``, at most 600 characters).

Choice: deterministic, so the prompt prefix (and a server's prompt cache) stays the same from run to run while the
file does not change; balanced, so the examples cover as many reviewed values as they can. The file does not say
which of a row's values the person changed (every row was held because the model was unsure or wrong), so the
balance is over every labelled value: rows are taken one at a time, each time the one whose values are the least
shown so far, ties in item-id order. An item is never its own example: the items a run is limited to (``eval``,
``bench/learning.py``) are left out. The examples are not part of the config hash: a new review does not make the
next run re-ask loaded items (``schema.examples_from_reviews`` itself is).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from etlcrew.pipeline.review_values import reviewed_labels_path
from etlcrew.specs.datapath import ExampleSpec

if TYPE_CHECKING:
    from etlcrew.evaluation.labels import LabelSet
    from etlcrew.settings import Settings
    from etlcrew.specs.project import ProjectSpec

MAX_TEXT = 600  # ExampleSpec.text's limit


def shown_as(crew: str) -> str:
    return f"data/{crew}_reviewed.csv"


def read_reviewed(settings: Settings, project: ProjectSpec, crew: str) -> LabelSet | None:
    """The crew's reviewed labels, checked like ``eval`` labels (exit 2 naming line and column); ``None`` when the
    crew takes no examples from reviews or nobody has reviewed anything yet."""
    from etlcrew.evaluation.label_files import read_crew_labels

    schema = project.crews[crew].output_schema
    if schema is None or schema.examples_from_reviews is None:
        return None
    if not reviewed_labels_path(settings.project_dir, crew).is_file():
        return None
    return read_crew_labels(settings, project, crew, shown_as(crew))


def choose(rows: Mapping[str, Mapping[str, str]], count: int, skip: Collection[str] = ()) -> list[str]:
    """Up to ``count`` item ids, each the row whose (field, value) pairs are the least shown so far."""
    left = sorted(i for i in rows if i not in skip)
    shown: Counter[tuple[str, str]] = Counter()
    chosen: list[str] = []
    while left and len(chosen) < count:
        best = min(left, key=lambda i: sum(shown[pair] for pair in rows[i].items()))
        chosen.append(best)
        left.remove(best)
        shown.update(rows[best].items())
    return chosen


def with_review_examples(settings: Settings, project: ProjectSpec, crew: str,
                         only_items: Collection[str] | None = None) -> ProjectSpec:
    """The project whose crew's schema carries the chosen reviewed items as examples (unchanged when none)."""
    from etlcrew.pipeline.sources import iter_items

    labels = read_reviewed(settings, project, crew)
    spec = project.crews[crew]
    schema = spec.output_schema
    if labels is None or schema is None or schema.examples_from_reviews is None:
        return project
    rows = {item_id: values for item_id, values in labels.expected.items() if values}
    chosen = choose(rows, schema.examples_from_reviews.max, skip=only_items or ())
    if not chosen:
        return project
    texts: dict[str, str] = {}
    limit = min(spec.chars_per_item or MAX_TEXT, MAX_TEXT)
    for source in spec.sources:
        for item in iter_items(source, settings.project_dir):
            if item.item_id in chosen and not item.quarantined:
                texts[item.item_id] = " ".join(item.text.split())[:limit]
    examples = [ExampleSpec(text=texts[i], values=dict(rows[i])) for i in chosen if texts.get(i)]
    taught = schema.model_copy(update={"examples": [*schema.examples, *examples]})
    return replace(project, crews={**project.crews, crew: spec.model_copy(update={"output_schema": taught})})
