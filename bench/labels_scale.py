"""How long checking a labels CSV takes, and its peak memory, for generated files of 1, 10 and 50 MB.

Usage: ``python bench/labels_scale.py [MB ...]`` (default 1 10 50). Each size runs in its own child process, so
its peak memory (``ru_maxrss``) is that check's alone; the child's resident size after imports is shown beside it.

The file is labels for the inbox crew (``file,category,urgency,product,sentiment``) whose rows mostly name files
the crew does not have (as a labels file for a larger folder would, checked against this one) and 1 row in 50
has an enum value that is not allowed: the worst case, where every row is a problem. The check is the one
``validate`` and ``eval`` make (``evaluation.labels.read_labels``) against the crew's 30 item ids.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HEADER = "file,category,urgency,product,sentiment\n"


def generate(path: Path, megabytes: float) -> int:
    """A labels file of about ``megabytes`` MB; returns its row count."""
    target, rows = int(megabytes * 1_000_000), 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        written = len(HEADER)
        while written < target:
            category = "billing" if rows % 50 else "bilingual"
            line = f"{rows + 100000:07d}-generated-message-{rows}.eml,{category},medium,Nimbus Cloud Plan,neutral\n"
            out.write(line)
            written += len(line)
            rows += 1
    return rows


def check(path: str) -> dict[str, float | int]:
    """In the child: read the labels as ``validate`` does; seconds, peak memory over the baseline, problems."""
    from etlcrew.errors import ConfigError
    from etlcrew.evaluation.labels import read_labels
    from etlcrew.settings import load_settings
    from etlcrew.specs.loader import load_project

    settings = load_settings(load_dotenv_file=False)
    project = load_project(settings.config_dir)
    schema = project.crews["support_inbox"].output_schema
    ids = [f"inbox:{p.name}" for p in sorted((ROOT / "data" / "inbox").iterdir())]
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        read_labels(Path(path), "labels.csv", schema, ids)
        shown = 0
    except ConfigError as exc:
        shown = len(exc.problems)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": round(seconds, 2), "baseline_mb": round(baseline / 1024, 1), "peak_mb": round(peak / 1024, 1),
            "problems_shown": shown}


def main(sizes: list[float]) -> None:
    print(f"{'size':>7} {'rows':>9} {'seconds':>8} {'peak RSS MB':>12} {'after imports':>14}  problems shown")
    with tempfile.TemporaryDirectory() as tmp:
        for megabytes in sizes:
            path = Path(tmp) / f"labels-{megabytes:g}mb.csv"
            rows = generate(path, megabytes)
            done = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True,
                                  check=True, cwd=ROOT)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{megabytes:>5g}MB {rows:>9,} {result['seconds']:>8} {result['peak_mb']:>12} "
                  f"{result['baseline_mb']:>14}  {result['problems_shown']}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(check(sys.argv[2])))
    else:
        main([float(a) for a in sys.argv[1:]] or [1, 10, 50])
