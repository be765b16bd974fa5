"""Record quality per model on the shipped labels: the crew, and one direct call per item, side by side.

How: for each model, ``evaluation.compare.evaluate`` runs the crew on its labelled items exactly as
``python main.py eval`` does (throwaway state, no targets) and scores every labelled field. The direct arm sends
one schema-constrained chat completion per item straight to the embedded llama.cpp server, with the same
described schema (``pipeline.batches.describe_schema``) and the same record JSON schema, and no CrewAI: the
baseline the crew must match (issue 12). Time is wall time on this machine; tokens are the server's counts.
Also counted: free-text values (summary) repeated verbatim across items.
Usage: python bench/quality.py [--crew support_inbox] [--models qwen2.5-coder-1.5b,...] [--limit N] [--arms direct,crew]
(--config-dir is read from ETLCREW_CONFIG_DIR, to compare prompt variants.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import load_average, write_results  # noqa: E402

TARGETS = {"category": 0.85, "product": 0.85, "urgency": 0.6, "sentiment": 0.75}
MAX_SECONDS_PER_ITEM = 15.0
VERBOSE = "-v" in sys.argv  # print each direct record


def _present_models() -> list[str]:
    from etlcrew.model_runtime.catalogue import load_catalogue
    from etlcrew.settings import load_settings

    cache = load_settings(load_dotenv_file=False).model_cache_dir
    return [e.name for e in load_catalogue() if (cache / e.file).is_file()]


def _repeats(records: dict[str, dict[str, Any] | None], field: str = "summary") -> int:
    """How many items share a free-text value (20+ characters) with another item."""
    values = Counter(" ".join(str(r.get(field) or "").split()).casefold() for r in records.values() if r)
    return sum(n for value, n in values.items() if n > 1 and len(value) >= 20)


def direct_arm(settings: Any, project: Any, crew: str, labels: Any, ids: tuple[str, ...], model: str
               ) -> dict[str, Any]:
    """One chat completion per item against the embedded server, no CrewAI; scored like the crew."""
    from etlcrew.evaluation.scoring import score
    from etlcrew.model_runtime.catalogue import find_entry
    from etlcrew.model_runtime.server import start_server
    from etlcrew.model_runtime.weights import ensure_weights
    from etlcrew.pipeline.batches import Batch, batch_output_model, describe_schema, new_data_tag, render_items
    from etlcrew.pipeline.checks import with_values
    from etlcrew.pipeline.sources import iter_items

    spec = project.crews[crew]
    entry = find_entry(model)
    server = start_server(ensure_weights(entry, settings.model_cache_dir), alias=entry.name, parallel=1,
                          **({"repeat_penalty": entry.repeat_penalty} if entry.repeat_penalty else {}))
    items = {i.item_id: i for s in spec.sources for i in iter_items(s, settings.project_dir) if i.item_id in ids}
    system = ("You turn each item into one record with these fields, taking every value from the item:\n"
              + describe_schema(spec.output_schema))
    tag, records, prompt, completion = new_data_tag(), {}, 0, 0
    started = time.perf_counter()
    for item_id in ids:
        batch = Batch(1, [items[item_id]])
        schema = batch_output_model(spec.output_schema, [item_id]).model_json_schema()
        body = {"model": entry.name, "temperature": 0, "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": render_items(batch, tag, spec.chars_per_item)}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "records", "schema": schema}}}
        request = urllib.request.Request(server.url + "/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=900) as response:
            reply = json.loads(response.read())
        prompt += reply["usage"]["prompt_tokens"]
        completion += reply["usage"]["completion_tokens"]
        record = json.loads(reply["choices"][0]["message"]["content"])["records"][0]
        records[item_id] = {k: v for k, v in with_values(record, spec.output_schema).items() if k != "reasoning"}
        if VERBOSE:
            print(f"  {item_id}: {json.dumps(record, ensure_ascii=False)[:300]}", flush=True)
    seconds = time.perf_counter() - started
    server.stop()  # the crew arm starts its own, with the slots the crew asks for
    scored = score(labels, spec.output_schema, records, set(records))
    return _row(model, "direct call", scored, seconds, prompt, completion, records)


def _row(model: str, arm: str, scored: Any, seconds: float, prompt: int, completion: int,
         records: dict[str, Any]) -> dict[str, Any]:
    n = scored.items or 1
    return {"model": model, "arm": arm, "items": scored.items,
            "accuracy": {name: f.accuracy for name, f in scored.fields.items()},
            "seconds_per_item": round(seconds / n, 1),
            "seconds_per_correct_record": round(seconds / scored.correct_records, 1) if scored.correct_records
            else None,
            "tokens_per_item": round((prompt + completion) / n), "repeated_summaries": _repeats(records)}


def crew_arm(settings: Any, project: Any, tools: Any, crew: str, labels: Any, ids: tuple[str, ...], model: str
             ) -> dict[str, Any]:
    """The crew as ``eval`` runs it."""
    from etlcrew.evaluation.scoring import score
    from etlcrew.evaluation.session import run_labelled

    run = run_labelled(settings, project, tools, crew, dict(project.crews[crew].inputs), ids, f"local/{model}")
    scored = score(labels, project.crews[crew].output_schema, run.records, run.loaded)
    llm = run.result.llm
    return _row(model, "crew", scored, run.result.duration_s, llm["prompt_tokens"], llm["completion_tokens"],
                run.records) | {"calls": llm["calls"], "review": run.review, "quarantined": run.quarantined,
                                "by_confidence": _by_confidence(labels, run)}


def _by_confidence(labels: Any, run: Any, thresholds: tuple[float, ...] = (0.5, 0.7, 0.9)) -> dict[str, Any]:
    """Per enum field and threshold: how many labelled values had at least that probability, and how many of
    those were right; what a crew's ``review: {min_confidence: ...}`` would keep in the table."""
    out: dict[str, Any] = {}
    for item_id, expected in labels.expected.items():
        for name, value in expected.items():
            p = run.confidence.get(item_id, {}).get(name)
            record = run.records.get(item_id) or {}
            if p is None:
                continue
            for t in thresholds:
                cell = out.setdefault(name, {}).setdefault(str(t), {"kept": 0, "right": 0})
                if p >= t:
                    cell["kept"] += 1
                    cell["right"] += record.get(name) == value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crew", default="support_inbox")
    parser.add_argument("--models", help="comma-separated catalogue names (default: every model pulled)")
    parser.add_argument("--limit", type=int, help="only the first N labelled items")
    parser.add_argument("--arms", default="direct,crew", help="which arms to run: direct, crew or both")
    parser.add_argument("-v", action="store_true", help="print each record of the direct arm")
    args = parser.parse_args()
    from dataclasses import replace

    from etlcrew.commands.project import load_checked
    from etlcrew.crewai_env import import_crewai, quiet_crewai_logging
    from etlcrew.evaluation.label_files import read_crew_labels
    from etlcrew.settings import load_settings

    settings = load_settings()
    project, tools = load_checked(settings)
    labels = read_crew_labels(settings, project, args.crew, None)
    ids = tuple(labels.expected)[:args.limit] if args.limit else tuple(labels.expected)
    labels = replace(labels, expected={i: labels.expected[i] for i in ids})
    import_crewai(settings.state_dir)
    quiet_crewai_logging()
    rows = []
    for model in (args.models.split(",") if args.models else _present_models()):
        if "direct" in args.arms:
            rows.append(direct_arm(settings, project, args.crew, labels, ids, model))
            _print(rows[-1])
        if "crew" in args.arms:
            rows.append(crew_arm(settings, project, tools, args.crew, labels, ids, model))
            _print(rows[-1])
    print(f"{args.crew}: {len(ids)} labelled items from {labels.file}; load average {load_average()}")
    write_results("quality", {"crew": args.crew, "items": len(ids), "rows": rows, "targets": TARGETS,
                              "max_seconds_per_item": MAX_SECONDS_PER_ITEM, "load_average": load_average()})


def _print(row: dict[str, Any]) -> None:
    accuracy = "  ".join(f"{k} {v:.2f}" for k, v in row["accuracy"].items())
    met = all(row["accuracy"].get(k, 1) >= v for k, v in TARGETS.items()) and not row["repeated_summaries"] \
        and row["seconds_per_item"] <= MAX_SECONDS_PER_ITEM
    print(f"{row['model']:22s} {row['arm']:12s} {accuracy}  {row['seconds_per_item']:5.1f} s/item  "
          f"{row['seconds_per_correct_record'] or 0:6.1f} s/correct  {row['tokens_per_item']:5d} tok/item  "
          f"repeated summaries {row['repeated_summaries']}  targets {'MET' if met else 'not met'}", flush=True)
    for name, cells in row.get("by_confidence", {}).items():
        shown = ", ".join(f">= {t}: {c['right']}/{c['kept']}" for t, c in cells.items())
        print(f"    {name} right / kept by confidence: {shown}", flush=True)


if __name__ == "__main__":
    main()
