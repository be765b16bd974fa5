"""Scale of the data path: 1k, 2k, 5k, 10k items with the scripted model; time per 1k items and peak RSS.

How: a temp project whose crews.yaml is the shipped one with support_inbox's sources replaced by one ``files``
source on ``data/big/*.jsonl`` with ``key: id`` (one item per line). The JSON Lines file is generated from the 30
inbox messages (parsed to text, cycled, each line with its own id and a perturbed subject). Each size runs in a
fresh subprocess: a small runner (written to the temp dir) registers ``ScriptedLLM(default=sample_answer)`` - with
its call history disabled, so the harness does not hold every prompt - then calls
``etlcrew.cli.main(["run", "support_inbox", "--model", "scripted/x", "--batch-size", "50", "--json"])`` and
prints the wall time of that call, ``ru_maxrss`` before the run (after importing CrewAI) and at exit. The crew's
own concurrency (2) applies. Linearity = (run time at 10k / run time at 1k) / 10; 1.0 is linear.
Targets: linearity within ±20% (0.8..1.2); peak RSS ≤ 500 MB.
Usage: python bench/scale.py [--quick] [--items 1000,10000]   (--quick: 1k and 2k only; --items: any sizes, the
       first and last give the linearity)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import INBOX, ROOT, load_average, make_project, set_env, write_results

BATCH_SIZE = 50
RSS_LIMIT_MB = 500

RUNNER = '''
import contextlib, io, json, os, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from etlcrew.crewai_env import prepare_crewai_environment
prepare_crewai_environment(Path(os.environ["ETLCREW_HOME"]))
from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer
from etlcrew.cli import main


class NoHistory(list):
    def append(self, item):
        pass


llm = ScriptedLLM(default=sample_answer)
llm._history = NoHistory()
register_scripted("x", llm)
import crewai, dlt, duckdb  # noqa: E401,F401 - imported before the baseline RSS reading
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = io.StringIO()
started = time.perf_counter()
with contextlib.redirect_stdout(out):
    code = main(["run", "support_inbox", "--model", "scripted/x", "--batch-size", "{batch}", "--json",
                 "--full-refresh"])
run_s = time.perf_counter() - started
text = out.getvalue()
summary = json.loads(text[text.find("{{"):])
print("BENCH " + json.dumps({{"code": code, "run_s": run_s, "rss_before_kb": before,
      "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "summary": summary}}))
'''


def inbox_texts() -> list[tuple[str, str]]:
    """(name, text) of each shipped inbox message, e-mails parsed to text the way the files source does."""
    from etlcrew.pipeline.sources.text import parse_email

    out = []
    for path in sorted(p for p in INBOX.iterdir() if p.suffix in (".eml", ".txt")):
        data = path.read_bytes()
        text = parse_email(data)[0] if path.suffix == ".eml" else data.decode("utf-8", errors="replace")
        out.append((path.stem, text))
    return out


def write_jsonl(path: Path, n: int, texts: list[tuple[str, str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for k in range(n):
            name, text = texts[k % len(texts)]
            fh.write(json.dumps({"id": k + 1, "origin": name, "subject": f"{name} (copy {k // len(texts)})",
                                 "text": text}, ensure_ascii=False) + "\n")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", default=None, help="comma-separated sizes (default 1000,2000,5000,10000)")
    args = parser.parse_args()
    sizes = [1000, 2000] if args.quick else [1000, 2000, 5000, 10000]
    if args.items:
        sizes = sorted({int(x) for x in args.items.split(",")})
    if len(sizes) < 2:
        parser.error("--items needs at least two sizes")

    base = Path(tempfile.mkdtemp(prefix="etlcrew-bench-scale-"))
    results = []
    try:
        project = make_project(base)
        crews_file = project / "config" / "crews.yaml"
        crews = yaml.safe_load(crews_file.read_text())
        crews["support_inbox"]["sources"] = [{"name": "big", "type": "files", "path": "data/big",
                                              "patterns": ["*.jsonl"], "key": "id"}]
        crews_file.write_text(yaml.safe_dump(crews, sort_keys=False, allow_unicode=True))
        runner = base / "runner.py"
        runner.write_text(RUNNER.format(root=str(ROOT), batch=BATCH_SIZE))
        texts = inbox_texts()
        load_before = load_average()
        for n in sizes:
            size_bytes = write_jsonl(project / "data" / "big" / "items.jsonl", n, texts)
            state, output = base / f"state-{n}", base / f"out-{n}"
            set_env(project, state, output)
            started = time.perf_counter()
            proc = subprocess.run([sys.executable, str(runner)], capture_output=True, text=True, env=os.environ.copy(),
                                  cwd=base, check=False)
            wall = time.perf_counter() - started
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")), None)
            if proc.returncode != 0 or line is None:
                raise SystemExit(f"runner failed for {n} items (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            data = json.loads(line[6:])
            summary = data["summary"]
            import duckdb

            with duckdb.connect(str(output / "support_inbox.duckdb"), read_only=True) as con:
                rows = con.execute("SELECT count(*) FROM etlcrew.tickets").fetchone()[0]
            results.append({
                "items": n, "jsonl_bytes": size_bytes, "exit": data["code"], "process_wall_s": round(wall, 2),
                "run_s": round(data["run_s"], 2), "run_s_per_1k": round(data["run_s"] / n * 1000, 2),
                "rss_before_run_mb": round(data["rss_before_kb"] / 1024, 1),
                "peak_rss_mb": round(data["rss_peak_kb"] / 1024, 1), "rows_loaded": rows,
                "counts": summary["items"], "llm_calls": summary["llm"]["calls"],
            })
            print(f"  {n} items: {data['run_s']:.1f} s, peak RSS {data['rss_peak_kb'] / 1024:.0f} MB", file=sys.stderr)
            shutil.rmtree(state, ignore_errors=True)
        load_after = load_average()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(f"support_inbox on a generated JSON Lines source (one item per line, key: id), batch size {BATCH_SIZE}, "
          f"crew concurrency 2,\nscripted model (sample_answer, history off), each size in a fresh subprocess "
          f"calling cli.main; run s = the cli.main call (process wall includes imports);\n"
          f"peak RSS = ru_maxrss at exit (before run = after importing CrewAI/dlt/duckdb); "
          f"load average before {load_before}, after {load_after}")
    print(f"  {'items':>6} {'run s':>7} {'s/1k items':>10} {'process s':>9} {'RSS before MB':>13} {'peak RSS MB':>11} "
          f"{'rows':>6} {'calls':>6}")
    for r in results:
        print(f"  {r['items']:>6} {r['run_s']:>7.1f} {r['run_s_per_1k']:>10.2f} {r['process_wall_s']:>9.1f} "
              f"{r['rss_before_run_mb']:>13.0f} {r['peak_rss_mb']:>11.0f} {r['rows_loaded']:>6} {r['llm_calls']:>6}")
    first, last = results[0], results[-1]
    linearity = (last["run_s"] / first["run_s"]) / (last["items"] / first["items"])
    peak = max(r["peak_rss_mb"] for r in results)
    rows_ok = all(r["rows_loaded"] == r["items"] for r in results)
    linear_ok = 0.8 <= linearity <= 1.2
    print(f"  linearity time({last['items']})/time({first['items']})/{last['items'] // first['items']} = "
          f"{linearity:.2f}: {'MET' if linear_ok else 'NOT MET'} (target 0.8..1.2)")
    print(f"  peak RSS {peak:.0f} MB: {'MET' if peak <= RSS_LIMIT_MB else 'NOT MET'} (target <= {RSS_LIMIT_MB} MB); "
          f"every item loaded: {rows_ok}")
    path = write_results("scale", {
        "batch_size": BATCH_SIZE, "load_average_before": load_before, "load_average_after": load_after,
        "runs": results, "linearity": round(linearity, 3), "linearity_met": linear_ok, "peak_rss_mb": peak,
        "rss_met": peak <= RSS_LIMIT_MB, "rows_ok": rows_ok,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
