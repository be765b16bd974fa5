"""``eval [CREW]``: run the crew on its labelled items with one or more models and score every field.

Labels are checked before anything runs (exit 2 naming file, line and column). Each model runs in a throwaway
state folder with no targets (``evaluation.session``), so ``eval`` writes no table, report or webhook and never
changes what a later ``run`` skips. ``--json`` prints one object::

    {"crew": "support_inbox", "labels": "data/inbox_expected.csv", "items": 30,
     "results": [{"model": "local/qwen2.5-coder-1.5b",
                  "fields": {"category": {"accuracy": 0.8, "correct": 24, "total": 30,
                                          "confusion": {"bug": {"bug": 8, "other": 1}, ...}}, ...},
                  "items": 30, "correct_records": 12, "loaded": 30, "loaded_accuracy": 0.79,
                  "loaded_records_all_right": 0.4, "wrong_values_caught": 0.0,
                  "review": 0, "quarantined": 0, "calls": 33, "prompt_tokens": 21000,
                  "completion_tokens": 3000, "cost_usd": 0.0, "seconds": 390.2, "seconds_per_item": 13.0,
                  "seconds_per_correct_record": 32.5, "cost_per_correct_record": 0.0,
                  "actions": {"precision": 0.86, "recall": 0.86, "missed": ["inbox:0018-password-reset-missing.eml"],
                              "extra": ["inbox:0013-fwd-damaged-doorbell.eml"]},
                  "misses": [{"item_id": "inbox:0001-double-charge.eml", "field": "urgency",
                              "expected": "medium", "produced": "high", "confidence": 0.62}, ...]}]}

``confusion`` is expected value -> produced value -> count, for enum fields (``null`` for others); a record
is correct when every field its label row checks is right. ``loaded_records_all_right`` is the share of records
loaded into the table with every checked field right; ``wrong_values_caught`` the share of wrong values (in records
the crew produced) that sat in records held for review: how well the review gate catches mistakes (``null`` when
nothing was loaded, or nothing was wrong). ``misses`` lists every wrong value, with the model's
probability for what it wrote (``null`` when the model gives no log-probabilities); ``--misses`` prints them.
``actions`` scores the run's action list (its outcome: ``actions:`` rule or publisher) against the labels'
``needs_action`` column: precision, recall (``null`` with nothing listed / nothing to find), the missed and the
extra item ids; ``null`` when the labels have no such column.
"""

from __future__ import annotations

from typing import Any

from etlcrew import console
from etlcrew.commands.project import crew_inputs, load_checked, parse_inputs, pick_crew
from etlcrew.errors import EXIT_OK
from etlcrew.model_runtime.usage import cost_text
from etlcrew.settings import Settings


def eval_crew(settings: Settings, *, crew: str | None, labels: str | None, models: tuple[str, ...],
              limit: int | None, input_pairs: tuple[str, ...], json_mode: bool, show_misses: bool = False) -> int:
    """Check the labels, run each model, print the scores side by side."""
    from etlcrew.crewai_env import import_crewai, quiet_crewai_logging
    from etlcrew.evaluation.compare import eval_project, evaluate
    from etlcrew.evaluation.label_files import read_crew_labels

    project, tools = load_checked(settings)
    name = pick_crew(project, crew)
    inputs = crew_inputs(project, name, parse_inputs(input_pairs))
    label_set = read_crew_labels(settings, project, name, labels)
    scored = eval_project(settings, project, name, labels)
    count = min(limit, len(label_set.expected)) if limit else len(label_set.expected)
    beside = "" if scored is project else " (items read from its folder)"
    console.info(f"eval: crew '{name}', {count} labelled items from {label_set.file}{beside}, "
                 f"fields {', '.join(label_set.fields)}" + (", needs_action" if label_set.actions else ""))
    import_crewai(settings.state_dir)
    quiet_crewai_logging()
    report = evaluate(settings, scored, tools, name, inputs, label_set, list(models) or [None], limit)
    if json_mode:
        console.emit_json(report)
    else:
        print_report(report, show_misses)
    return EXIT_OK


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_report(report: dict[str, Any], show_misses: bool = False) -> None:
    """One row per model (accuracy per field, cost and time), each enum field's confusion table, the misses."""
    results = report["results"]
    fields = list(results[0]["fields"]) if results else []
    scored = any(r.get("actions") for r in results)
    rows = [[r["model"], *(_percent(r["fields"][f]["accuracy"]) for f in fields),
             *([_actions_cell(r.get("actions"))] if scored else []),
             f"{r['loaded']} ({_percent(r['loaded_accuracy'])})", _percent(r["loaded_records_all_right"]),
             _percent(r["wrong_values_caught"]), r["review"], r["quarantined"], r["calls"],
             r["prompt_tokens"] + r["completion_tokens"], cost_text(r["cost_usd"]), f"{r['seconds']:.0f}",
             "-" if r["seconds_per_correct_record"] is None else f"{r['seconds_per_correct_record']:.1f}"]
            for r in results]
    console.table(f"eval {report['crew']}: {report['items']} items from {report['labels']}",
                  ["model", *fields, *(["actions P / R"] if scored else []), "loaded (acc.)", "loaded all right",
                   "wrong caught", "review", "quarantined", "calls", "tokens", "cost", "s", "s / correct record"], rows)
    for result in results:
        for field, done in result["fields"].items():
            if done["confusion"]:
                _confusion(result["model"], field, done["confusion"])
        actions = result.get("actions")
        if actions and (actions["missed"] or actions["extra"]):
            console.out(f"{result['model']}: action list missed {', '.join(actions['missed']) or 'none'}; "
                        f"extra {', '.join(actions['extra']) or 'none'}")
        if show_misses:
            _misses(result["model"], result["misses"])


def _actions_cell(actions: dict[str, Any] | None) -> str:
    return "-" if not actions else f"{_percent(actions['precision'])} / {_percent(actions['recall'])}"


def _confusion(model: str, field: str, confusion: dict[str, dict[str, int]]) -> None:
    produced = sorted({value for row in confusion.values() for value in row})
    rows = [[expected, *(row.get(value, 0) or "" for value in produced)] for expected, row in sorted(confusion.items())]
    console.table(f"{model}: {field} (rows: label, columns: produced)", ["label", *produced], rows)


def _misses(model: str, misses: list[dict[str, Any]]) -> None:
    rows = [[m["item_id"], m["field"], m["expected"], m["produced"], _percent(m["confidence"])] for m in misses]
    noun = "wrong value" if len(misses) == 1 else "wrong values"
    console.table(f"{model}: {len(misses)} {noun}", ["item", "field", "label", "produced", "confidence"], rows)
