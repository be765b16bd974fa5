"""Which `actions: {when: ...}` rule picks the items that need action? Scored on records an `eval` already made.

A rule runs on the records, not on the model, so the action list a rule would give is known from an eval's output
without another model call: this script rebuilds each item's record from `eval --json --misses` (a value not in
`misses` was the label's; a miss gives the value produced, `(none)` for no record) and scores each rule as `eval`
does (precision, recall, missed and extra ids, labelled items only).

Usage:
    python main.py eval --json --misses > shipped.json
    python main.py eval --labels data/inbox_test/labels.csv --json --misses > test.json
    python bench/action_rules.py shipped.json test.json --when "urgency in ['urgent', 'high']" --when "..."
Without --when: the crew's own rule. Records held for review count (they are listed, marked held); an item with no
record (quarantined) is never listed. Quick plumbing check: the same with `--model scripted/sample --limit 5`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import write_results  # noqa: E402

NO_RECORD = "(none)"  # how eval shows a value that was not produced (etlcrew.evaluation.scoring.NONE)


def records_from_eval(result: dict[str, Any], expected: dict[str, dict[str, str]]) -> dict[str, dict[str, Any] | None]:
    """Each labelled item's record as the run produced it: the label where eval found no miss."""
    records: dict[str, dict[str, Any] | None] = {item_id: dict(values) for item_id, values in expected.items()}
    for miss in result.get("misses") or []:
        record = records.get(miss["item_id"])
        if record is not None:
            record[miss["field"]] = None if miss["produced"] == NO_RECORD else miss["produced"]
    for item_id, record in records.items():
        if record is not None and all(value is None for value in record.values()):
            records[item_id] = None  # no record at all: quarantined
    return records


def score_rule(when: str, records: dict[str, dict[str, Any] | None], needs: dict[str, bool],
               fields: list[str]) -> dict[str, Any]:
    from etlcrew.evaluation.actions import score_actions
    from etlcrew.pipeline.targets.conditions import parse_condition

    condition = parse_condition(when, [*fields, "item_id"])
    listed = [item_id for item_id, record in records.items()
              if record is not None and condition({**record, "item_id": item_id})]
    return score_actions(needs, listed).as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evals", nargs="+", type=Path, help="outputs of `eval --json --misses`")
    parser.add_argument("--when", action="append", help="a rule to score (repeat); default: the crew's own")
    args = parser.parse_args()

    from etlcrew.commands.project import load_checked
    from etlcrew.evaluation.label_files import read_crew_labels
    from etlcrew.settings import load_settings

    settings = load_settings()
    project, _ = load_checked(settings)
    rows = []
    for path in args.evals:
        data = json.loads(path.read_text(encoding="utf-8"))
        crew = data["crew"]
        labels = read_crew_labels(settings, project, crew, data["labels"])
        actions = project.crews[crew].actions
        rules = args.when or ([actions.when] if actions and actions.when else [])
        if not rules:
            sys.exit(f"{crew} has no actions: {{when: ...}} rule; pass --when")
        scored = list(labels.expected)[:data["items"]]  # eval --limit N scores the first N labelled items
        expected = {item_id: labels.expected[item_id] for item_id in scored}
        needs = {item_id: labels.actions[item_id] for item_id in scored if item_id in labels.actions}
        for result in data["results"]:
            records = records_from_eval(result, expected)
            for when in rules:
                try:
                    score = score_rule(when, records, needs, list(labels.fields))
                except ValueError as exc:  # ConditionError: a field the labels lack cannot be rebuilt
                    sys.exit(f"--when {when!r}: {exc}; a rule here can name only the labelled fields")
                rows.append({"eval": str(path), "model": result["model"], "when": when, **score})
                print(f"{path.name} ({len(needs)} labelled, {sum(needs.values())} need action), "
                      f"{result['model']}: P {_figure(score['precision'])} R {_figure(score['recall'])}  {when}")
                for kind in ("missed", "extra"):
                    if score[kind]:
                        print(f"    {kind}: {', '.join(score[kind])}")
    print(f"results: {write_results('action_rules', {'rows': rows})}")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
