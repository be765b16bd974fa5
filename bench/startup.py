"""CLI start-up time: median wall time of commands that must not import CrewAI, beside `crewai --help`.

Each command runs N times as a fresh process (`python main.py ...`) after one warm-up run, so the figure is the
warm-cache start-up a user sees on the second and later calls. Target (issue 2): each ≤ 0.3 s on this machine.
Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "--help": ["--help"],
    "validate": ["validate"],
    "list": ["list"],
    "list tools --json": ["list", "tools", "--json"],
    "models": ["models"],
}


def timed(cmd: list[str], runs: int) -> float:
    subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False)  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, float] = {}
    for label, argv in COMMANDS.items():
        results[f"etlcrew {label}"] = timed([sys.executable, str(ROOT / "main.py"), *argv], args.runs)
    crewai = shutil.which("crewai", path=str(Path(sys.executable).parent))
    if crewai:
        results["crewai --help"] = timed([crewai, "--help"], max(3, args.runs // 2))
    results["python -c pass"] = timed([sys.executable, "-c", "pass"], args.runs)
    print(f"median wall time over {args.runs} runs (after a warm-up), 2-core machine:")
    for label, seconds in results.items():
        print(f"  {label:28s} {seconds * 1000:7.0f} ms")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup.json").write_text(json.dumps({k: round(v, 4) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
