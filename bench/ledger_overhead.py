"""The ledger's cost per batch: time spent in ledger reads and writes during a real run, per batch and as a share
of the run.

How: N generated inbox items (data/inbox cycled and perturbed) in a temp project; the default crew runs in-process
with the scripted model (instant, so the share is an upper bound: with a real model each batch takes seconds and
the ledger's share shrinks accordingly). Every ``Ledger`` method is wrapped with a timer (perf_counter, summed over
threads); the run's wall time comes from the CLI call. The ledger is a real SQLite file in WAL mode
(synchronous=NORMAL), committing at each batch-phase boundary.
Usage: python bench/ledger_overhead.py [--items N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import generate_inbox, load_average, make_project, run_cli, set_env, write_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Timer:
    """Sums the time spent in wrapped methods, per method name (thread-safe)."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def wrap(self, owner: type, name: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self.lock:
                    entry = self.spent.setdefault(name, [0.0, 0])
                    entry[0] += time.perf_counter() - began
                    entry[1] += 1

        setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="etlcrew-ledger-"))
    project = make_project(base, with_inbox=True)
    generate_inbox(project / "data" / "inbox", args.items)
    set_env(project, base / "state", base / "out")
    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(base / "state")
    from etlcrew.ledger.store import Ledger
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer

    register_scripted("ledger", ScriptedLLM(default=sample_answer))
    timer = Timer()
    for name in ("start_run", "finish_run", "resume_run", "unchanged_since_loaded", "record_items", "add_batch",
                 "save_phase", "save_outcome", "mark_landed", "batches", "record_call", "calls", "call_totals",
                 "enqueue", "open_deliveries", "mark_delivered"):
        timer.wrap(Ledger, name)
    started = time.perf_counter()
    code, summary = run_cli(["run", "--model", "scripted/ledger", "--batch-size", str(args.batch_size),
                             "--full-refresh"])
    wall = time.perf_counter() - started
    batches = -(-args.items // args.batch_size)
    total = sum(spent for spent, _ in timer.spent.values())
    per_batch_ms = total / batches * 1000
    print(f"default crew, {args.items} items in {batches} batches, scripted (instant) model, in-process; "
          f"load average {load_average()}")
    print(f"  run wall time {wall:.2f} s, exit {code}, {summary['llm']['calls']} model calls")
    print(f"  ledger time {total * 1000:.0f} ms in total = {per_batch_ms:.1f} ms per batch "
          f"= {total / wall * 100:.1f}% of the run (summed over threads)")
    print(f"  {'method':24s} {'calls':>6s} {'total ms':>9s} {'ms/call':>8s}")
    for name, (spent, count) in sorted(timer.spent.items(), key=lambda kv: -kv[1][0]):
        print(f"  {name:24s} {count:6d} {spent * 1000:9.1f} {spent / count * 1000:8.2f}")
    write_results("ledger_overhead", {
        "items": args.items, "batches": batches, "wall_s": round(wall, 3), "ledger_ms": round(total * 1000, 1),
        "ledger_ms_per_batch": round(per_batch_ms, 2), "share_of_run": round(total / wall, 4),
        "methods": {k: {"calls": c, "ms": round(s * 1000, 2)} for k, (s, c) in timer.spent.items()},
        "load_average": load_average(),
    })


if __name__ == "__main__":
    main()
