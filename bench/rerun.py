"""A no-change re-run: time and model calls when nothing changed since the last run, and the ledger's cost.

How: 100 generated inbox items (data/inbox cycled and perturbed) in a temp project; the default crew runs
in-process with the scripted model (``ScriptedLLM(default=sample_answer)``): first run, then the same run again
(nothing changed: every item should be skipped), then a run after one item changed. Wall time of each
``etlcrew.cli.main`` call; calls and skipped counts from the JSON summary. Issue 5: a no-change re-run makes 0
model calls.
Usage: python bench/rerun.py [--items N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import generate_inbox, load_average, make_project, run_cli, set_env, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="etlcrew-rerun-"))
    project = make_project(base, with_inbox=True)
    names = generate_inbox(project / "data" / "inbox", args.items)
    set_env(project, base / "state", base / "out")
    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(base / "state")
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer

    register_scripted("rerun", ScriptedLLM(default=sample_answer))
    rows = []
    for label in ("first run", "no-change re-run", "one item changed"):
        if label == "one item changed":
            changed = project / "data" / "inbox" / next(n for n in names if n.endswith(".txt"))
            changed.write_bytes(changed.read_bytes() + b"\nP.S. it happened again today.\n")
        started = time.perf_counter()
        code, summary = run_cli(["run", "--model", "scripted/rerun"])
        wall = time.perf_counter() - started
        items = summary["items"]
        rows.append({"run": label, "exit": code, "wall_s": round(wall, 2), "calls": summary["llm"]["calls"],
                     "loaded": items["loaded"], "skipped": items["skipped"], "extracted": items["extracted"]})
    print(f"default crew, {args.items} items, scripted model, in-process; load average {load_average()}")
    print(f"  {'run':18s} {'wall s':>7s} {'calls':>6s} {'loaded':>7s} {'skipped':>8s}")
    for row in rows:
        print(f"  {row['run']:18s} {row['wall_s']:7.2f} {row['calls']:6d} {row['loaded']:7d} {row['skipped']:8d}")
    met = rows[1]["calls"] == 0 and rows[1]["skipped"] == args.items
    print(f"  target: a no-change re-run makes 0 model calls: {'MET' if met else 'NOT MET'}")
    write_results("rerun", {"items": args.items, "runs": rows, "target_met": met, "load_average": load_average()})


if __name__ == "__main__":
    main()
