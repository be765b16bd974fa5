"""Do corrections teach the crew? Reviewed items as examples (``schema: {examples_from_reviews: {max: N}}``),
scored on items the examples never include.

How: the labelled items (default: the crew's ``eval`` labels; ``--labels data/inbox_test/labels.csv`` for the
held-out set) are split into K folds by position (item i in label order goes to fold i % K). For each fold, the
labels of the other folds STAND IN FOR A REVIEWER: they are written as ``data/<crew>_reviewed.csv`` in a throwaway
copy of the project, as if a person had reviewed those items, and the fold is scored as ``eval`` scores it with N
of them as examples, for each N in ``--shots`` (N = 0: the option off). So every item is scored once per N, always
by a crew whose examples came from other items. Printed per N: accuracy per field, records with every checked
field right, items won and lost against N = 0 (won: every checked field right at N and not at 0), seconds per item.
Results also go to bench/results/learning.json.

Usage: python bench/learning.py [--crew support_inbox] [--labels FILE] [--model M] [--folds 2] [--shots 0,2,4,8]
                                [--limit N]
Cost: every item runs once per shot count (30 items x 4 on the embedded model is ~30 minutes on 2 cores). Check
the plumbing first with ``--model scripted/sample --limit 6`` (a scripted model ignores examples: a flat curve).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import load_average, write_results  # noqa: E402


def folds_of(ids: list[str], k: int) -> list[list[str]]:
    """Item i (in label order) goes to fold i % k: deterministic, and every fold mixes the file's order."""
    return [ids[n::k] for n in range(k)]


def write_reviewed(path: Path, labels: Any, ids: list[str]) -> None:
    """The training items' labels in the format ``review`` writes (item_id key, one column per field)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item_id", *labels.fields])
        for item_id in ids:
            writer.writerow([item_id, *(labels.expected[item_id].get(f, "") for f in labels.fields)])


def with_shots(project: Any, crew: str, shots: int) -> Any:
    """The project with ``examples_from_reviews: {max: shots}`` on the crew (off at 0)."""
    from etlcrew.specs.datapath import ReviewExamplesSpec

    spec = project.crews[crew]
    option = ReviewExamplesSpec(max=shots) if shots else None
    schema = spec.output_schema.model_copy(update={"examples_from_reviews": option})
    return replace(project, crews={**project.crews, crew: spec.model_copy(update={"output_schema": schema})})


def copy_project(base: Path, settings: Any) -> Any:
    """A throwaway project (config, data, tools) the reviewed file can be written into."""
    target = base / "project"
    shutil.copytree(settings.config_dir, target / "config")
    shutil.copytree(settings.project_dir / "data", target / "data", ignore=shutil.ignore_patterns("*.sqlite"))
    tools = settings.project_dir / "tools"
    shutil.copytree(tools, target / "tools") if tools.is_dir() else (target / "tools").mkdir()
    return replace(settings, project_dir=target, config_dir=target / "config")


def run_fold(settings: Any, project: Any, tools: Any, crew: str, labels: Any, fold: list[str], model: str | None
             ) -> tuple[dict[str, dict[str, bool]], float]:
    """Each item of the fold: field -> right; and the seconds the run took."""
    from etlcrew.evaluation.scoring import matches
    from etlcrew.evaluation.session import run_labelled

    schema = project.crews[crew].output_schema
    started = time.monotonic()
    run = run_labelled(settings, project, tools, crew, dict(project.crews[crew].inputs), tuple(fold), model)
    seconds = time.monotonic() - started
    right = {}
    for item_id in fold:
        record = run.records.get(item_id) or {}
        right[item_id] = {name: matches(schema.fields[name], value, record.get(name))
                          for name, value in labels.expected[item_id].items()}
    return right, seconds


def summary(shots: int, right: dict[str, dict[str, bool]], seconds: float, base: set[str] | None,
            fields: tuple[str, ...]) -> dict[str, Any]:
    all_right = {i for i, checks in right.items() if checks and all(checks.values())}
    row: dict[str, Any] = {
        "shots": shots, "items": len(right), "seconds_per_item": round(seconds / max(len(right), 1), 1),
        "accuracy": {f: round(sum(c.get(f, False) for c in right.values()) / max(
            sum(f in c for c in right.values()), 1), 3) for f in fields},
        "records_all_right": len(all_right),
    }
    if base is not None:
        row["won"], row["lost"] = sorted(all_right - base), sorted(base - all_right)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crew", default="support_inbox")
    parser.add_argument("--labels", help="labels CSV (default: the crew's eval labels)")
    parser.add_argument("--model", help="model for every arm (default: the crew's own choice)")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--shots", default="0,2,4,8", help="comma-separated example counts; 0 is the baseline")
    parser.add_argument("--limit", type=int, help="only the first N labelled items")
    args = parser.parse_args()
    shots = sorted({int(s) for s in args.shots.split(",")} | {0})

    from etlcrew.commands.project import load_checked
    from etlcrew.crewai_env import import_crewai, quiet_crewai_logging
    from etlcrew.evaluation.label_files import labelled_project, read_crew_labels
    from etlcrew.settings import load_settings

    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="etlcrew-learning-") as tmp:
        settings = copy_project(Path(tmp), settings)
        project, tools = load_checked(settings)
        labels = read_crew_labels(settings, project, args.crew, args.labels)
        project = labelled_project(settings, project, args.crew, args.labels)
        ids = list(labels.expected)[:args.limit] if args.limit else list(labels.expected)
        reviewed = settings.project_dir / "data" / f"{args.crew}_reviewed.csv"
        import_crewai(settings.state_dir)
        quiet_crewai_logging()
        print(f"{args.crew}: {len(ids)} items from {labels.file} in {args.folds} folds; the labels of the other "
              f"folds stand in for a reviewer (written as data/{args.crew}_reviewed.csv in a throwaway copy)",
              flush=True)
        results: dict[int, tuple[dict[str, dict[str, bool]], float]] = {n: ({}, 0.0) for n in shots}
        for k, fold in enumerate(folds_of(ids, args.folds), 1):
            write_reviewed(reviewed, labels, [i for i in ids if i not in fold])
            for n in shots:
                right, seconds = run_fold(settings, with_shots(project, args.crew, n), tools, args.crew, labels,
                                          fold, args.model)
                results[n][0].update(right)
                results[n] = (results[n][0], results[n][1] + seconds)
                print(f"  fold {k}/{args.folds}, {n} examples: {sum(all(c.values()) for c in right.values())} of "
                      f"{len(fold)} records all right, {seconds / len(fold):.1f} s/item", flush=True)
    base = {i for i, c in results[0][0].items() if c and all(c.values())}
    rows = [summary(n, results[n][0], results[n][1], None if n == 0 else base, labels.fields) for n in shots]
    _print(rows, labels.fields)
    path = write_results("learning", {"crew": args.crew, "labels": labels.file, "items": len(ids),
                                      "folds": args.folds, "model": args.model, "rows": rows,
                                      "load_average": load_average()})
    print(f"results: {path}")


def _print(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> None:
    print(f"{'examples':>8}  " + "  ".join(f"{f:>9}" for f in fields) + "  all right  won  lost  s/item")
    for row in rows:
        won, lost = len(row.get("won", [])), len(row.get("lost", []))
        print(f"{row['shots']:>8}  " + "  ".join(f"{row['accuracy'][f]:>9.2f}" for f in fields)
              + f"  {row['records_all_right']:>9}  {won:>3}  {lost:>4}  {row['seconds_per_item']:>6}")
        for kind in ("won", "lost"):
            if row.get(kind):
                print(f"          {kind}: {', '.join(row[kind])}")


if __name__ == "__main__":
    main()
