"""CLI start-up time: median wall time of commands that must not import CrewAI, beside `crewai --help`.

Each command runs N times as a fresh process (`python main.py ...`, cwd = the repo) after one warm-up run, so the
figure is the warm-cache start-up a user sees on the second and later calls. `runs` reads a ledger holding 20
finished runs with 40 model calls each, written through ``ledger.Ledger`` into a temp ETLCREW_HOME before timing
(the repo's own .etlcrew is not touched); the other commands see the same environment. `crewai --help` is the
crewai CLI installed beside this Python (CrewAI's own start-up, for scale). Target (issue 2): each ≤ 0.3 s here.
Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import ROOT, load_average, write_results

COMMANDS = {
    "--help": ["--help"],
    "validate": ["validate"],
    "list": ["list"],
    "list tools --json": ["list", "tools", "--json"],
    "runs": ["runs"],
    "models": ["models"],
}
TARGET_S = 0.3


def seed_ledger(state: Path, runs: int = 20, calls: int = 40) -> str:
    """A ledger with ``runs`` finished runs in ``state``; returns what was written (or why not)."""
    try:
        from etlcrew.ledger import open_ledger
        from etlcrew.pipeline.runner import new_run_id

        ledger = open_ledger(state)
        for _ in range(runs):
            run_id = new_run_id()
            ledger.start_run(run_id, "support_inbox", {"purpose": "bench"}, "0" * 16, {"model": "scripted/x"})
            for k in range(calls):
                ledger.record_call(run_id, "scripted", 1000, 100, 1.0, None, batch_no=k // 4 + 1, agent="Researcher",
                                   task="extract")
            ledger.finish_run({"run_id": run_id, "status": "succeeded", "items": {
                "extracted": 100, "loaded": 100, "quarantined": 0, "skipped": 0}, "llm": {
                "calls": calls, "prompt_tokens": 1000 * calls, "completion_tokens": 100 * calls, "cost_usd": 0.0},
                "duration_s": 4.0, "models": ["scripted/x"], "outputs": []})
        ledger.close()
        return f"{runs} runs x {calls} calls"
    except Exception as exc:  # the ledger's API may move: time `runs` on an empty ledger rather than fail
        return f"empty (seeding failed: {type(exc).__name__}: {exc})"


def timed(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, int]:
    """Median wall time of ``runs`` runs after a warm-up, and the last exit code."""
    subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False, env=env)  # warm-up
    samples = []
    code = 0
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False, env=env).returncode
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="etlcrew-bench-startup-"))
    seeded = seed_ledger(state)
    env = {**os.environ, "ETLCREW_HOME": str(state), "ETLCREW_MODEL_CACHE": os.environ.get(
        "ETLCREW_MODEL_CACHE", str(ROOT / ".etlcrew" / "models"))}
    load_before = load_average()
    results: dict[str, float] = {}
    codes: dict[str, int] = {}
    try:
        for label, argv in COMMANDS.items():
            results[f"etlcrew {label}"], codes[f"etlcrew {label}"] = timed(
                [sys.executable, str(ROOT / "main.py"), *argv], args.runs, env)
        crewai = shutil.which("crewai", path=str(Path(sys.executable).parent))
        if crewai:
            results["crewai --help"], codes["crewai --help"] = timed([crewai, "--help"], max(3, args.runs // 2), env)
        results["python -c pass"], codes["python -c pass"] = timed([sys.executable, "-c", "pass"], args.runs, env)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    load_after = load_average()
    print(f"median wall time over {args.runs} runs (after a warm-up), fresh process each, 2-core machine; "
          f"ledger for `runs`: {seeded}; load average before {load_before}, after {load_after}")
    for label, seconds in results.items():
        flag = "" if codes[label] == 0 else f"  (exit {codes[label]})"
        print(f"  {label:28s} {seconds * 1000:7.0f} ms{flag}")
    mine = {k: v for k, v in results.items() if k.startswith("etlcrew")}
    met = all(v <= TARGET_S for v in mine.values())
    print(f"  target every etlcrew command <= {TARGET_S * 1000:.0f} ms: {'MET' if met else 'NOT MET'} "
          f"(slowest {max(mine, key=lambda k: mine[k])} {max(mine.values()) * 1000:.0f} ms)")
    path = write_results("startup", {
        **{k: round(v, 4) for k, v in results.items()}, "exit_codes": codes, "runs": args.runs,
        "ledger_for_runs": seeded, "target_s": TARGET_S, "target_met": met, "load_average_before": load_before,
        "load_average_after": load_after,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
