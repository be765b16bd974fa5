"""Local executor vs Ray executor on this machine: what Ray costs when one machine would do.

How: N generated inbox items (data/inbox cycled and perturbed) in a temp project; the default crew runs with the
built-in scripted model (``--model scripted/sample``: instant, so the figures are orchestration only), once with
``--executor local`` and once with ``--executor ray`` (a local Ray cluster started for the run, 2 CPUs), each as
its own ``python main.py run --json --full-refresh`` subprocess (wall time of the whole command, start-up
included), median of ``--repeat`` runs. Ray's fixed cost (cluster start, each worker importing CrewAI) is
reported separately from its per-batch cost by running two sizes.
Usage: python bench/executors.py [--items 100,400] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import generate_inbox, load_average, make_project, write_results

ROOT = Path(__file__).resolve().parent.parent


def run_once(project: Path, base: Path, executor: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    env = os.environ | {"ETLCREW_PROJECT_DIR": str(project), "ETLCREW_HOME": str(base / "state"),
                        "ETLCREW_OUTPUT_DIR": str(base / f"out-{executor}"), "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--model", "scripted/sample",
                           "--executor", executor, "--full-refresh", "--json"],
                          env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{executor} run failed: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="100,400", help="comma-separated sizes")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(n) for n in args.items.split(",")]
    rows = []
    for size in sizes:
        base = Path(tempfile.mkdtemp(prefix="etlcrew-exec-"))
        project = make_project(base, with_inbox=True)
        generate_inbox(project / "data" / "inbox", size)
        walls: dict[str, list[float]] = {"local": [], "ray": []}
        loaded = {}
        for _ in range(args.repeat):
            for executor in ("local", "ray"):
                wall, summary = run_once(project, base, executor)
                walls[executor].append(wall)
                loaded[executor] = summary["items"]["loaded"]
        local, ray = statistics.median(walls["local"]), statistics.median(walls["ray"])
        rows.append({"items": size, "local_s": round(local, 2), "ray_s": round(ray, 2),
                     "ratio": round(ray / local, 2), "loaded": loaded})
    print(f"default crew, scripted/sample (instant) model, batch 10, concurrency 2 (local) / 2 CPUs (Ray); "
          f"whole command, median of {args.repeat}; load average {load_average()}")
    print(f"  {'items':>6s} {'local s':>8s} {'ray s':>7s} {'ray/local':>10s}")
    for row in rows:
        print(f"  {row['items']:6d} {row['local_s']:8.2f} {row['ray_s']:7.2f} {row['ratio']:10.2f}")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        per_item = {k: (b[f"{k}_s"] - a[f"{k}_s"]) / (b["items"] - a["items"]) * 1000 for k in ("local", "ray")}
        fixed = {k: a[f"{k}_s"] - per_item[k] * a["items"] / 1000 for k in ("local", "ray")}
        print(f"  per item: local {per_item['local']:.1f} ms, ray {per_item['ray']:.1f} ms; "
              f"fixed: local {fixed['local']:.1f} s, ray {fixed['ray']:.1f} s (cluster start, workers import CrewAI)")
        rows.append({"per_item_ms": {k: round(v, 2) for k, v in per_item.items()},
                     "fixed_s": {k: round(v, 2) for k, v in fixed.items()}})
    write_results("executors", {"rows": rows, "load_average": load_average()})


if __name__ == "__main__":
    main()
