"""The benchmark suite: every bench/ script once, one summary table, bench/results/summary.json.

How: each benchmark runs as a subprocess of this Python (cwd = the repo), one after the other, with the fast
arguments listed in SUITE (the whole suite takes about 10 minutes on the 2-core development machine); its own
output goes to bench/results/logs/NAME.log and, unless --quiet, to this terminal. Its figures are read back from
the JSON it writes to bench/results/ (a file older than the run counts as not written). The 1-minute load average
is read before and after each benchmark and shown with its figures: the machine is shared, and every figure is a
wall-clock time. The embedded-model benchmarks need the SmolLM2 weights (ETLCREW_MODEL_CACHE, else
.etlcrew/models; `python main.py models pull`); without them they are skipped with a note. No network: the
benchmarks use the scripted model, a stub model server on 127.0.0.1 or the embedded model.
Usage: python bench/run_all.py [--only a,b] [--skip a,b] [--quiet] [--list]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import RESULTS, ROOT, load_average, product_commit, write_results

BENCH = ROOT / "bench"
LOGS = RESULTS / "logs"


@dataclass
class Figure:
    """One row of the summary table; ``met`` is None when the figure has no target."""

    figure: str
    value: str
    target: str = "-"
    met: bool | None = None


Extract = Callable[[dict[str, Any]], list[Figure]]


@dataclass
class Bench:
    """A benchmark script, the arguments the suite gives it, the JSON it writes and how to read its figures."""

    name: str
    script: str
    args: list[str]
    results: str
    extract: Extract
    needs_weights: bool = False
    timeout_s: int = 900
    optional: bool = False  # not written yet: "not measured yet" instead of a failure
    pending: list[Figure] = field(default_factory=list)


# ------------------------------------------------------------------------------------ reading each JSON


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def startup_figures(d: dict[str, Any]) -> list[Figure]:
    labels = ["--help", "validate", "list", "runs"]
    mine = [d[f"etlcrew {k}"] for k in labels if f"etlcrew {k}" in d]
    crewai = d.get("crewai --help")
    value = " / ".join(_ms(s) for s in mine) + " ms"
    if crewai:
        value += f" (crewai --help {_ms(crewai)} ms)"
    target = d.get("target_s", 0.3)
    return [Figure("CLI start-up: --help / validate / list / runs", value, f"each <= {_ms(target)} ms",
                   all(s <= target for s in mine))]


def overhead_figures(d: dict[str, Any]) -> list[Figure]:
    rows = d["levels"]
    value = "; ".join(f"conc {r['concurrency']}: {r['ratio']:.2f}x ({r['etlcrew_s']:.1f} vs {r['plain_s']:.1f} s)"
                      for r in rows)
    calls = rows[0]["etlcrew_calls"], rows[0]["plain_calls"]
    out = [Figure(f"orchestration: etlcrew / plain CrewAI, {d['items']} items, scripted model", value,
                  f"<= {d['target']}x", d["target_met"]),
           Figure("  same model calls on both sides", f"{calls[0]} / {calls[1]}", "equal", calls[0] == calls[1])]
    profile = d.get("profile")
    if profile:
        buckets = {k: v for k, v in profile["buckets_s"].items() if not k.startswith("waiting")}
        busy = sum(buckets.values()) or 1.0
        top = sorted(buckets.items(), key=lambda kv: -kv[1])[:4]
        out.append(Figure("  where etlcrew's time goes (cProfile, conc 1)",
                          ", ".join(f"{k} {v / busy:.0%}" for k, v in top)))
    return out


def calls_figures(d: dict[str, Any]) -> list[Figure]:
    runs = [r for r in d["runs"] if r["variant"] == d["runs"][0]["variant"]]
    naive = next(r for r in runs if r["batch_size"] == 1)
    batched = max(runs, key=lambda r: r["batch_size"])
    calls = batched["calls"] / naive["calls"]
    tokens = batched["prompt_tokens"] / naive["prompt_tokens"]
    note = f"batch {batched['batch_size']} vs per item"
    return [Figure(f"model calls per 100 items, {note}",
                   f"{batched['calls_per_100']:.0f} vs {naive['calls_per_100']:.0f} ({calls:.3f})",
                   "<= 1/8 (0.125)", calls <= 1 / 8),
            Figure(f"prompt tokens per 100 items, {note}",
                   f"{batched['prompt_tokens_per_100']:.0f} vs {naive['prompt_tokens_per_100']:.0f} ({tokens:.3f})",
                   "<= 1/8 (0.125)", tokens <= 1 / 8)]


def concurrency_figures(d: dict[str, Any]) -> list[Figure]:
    runs = d["runs"]
    last = runs[-1]
    curve = ", ".join(f"{r['concurrency']}: {r['speedup']:.1f}x" for r in runs)
    return [Figure(f"throughput vs concurrency, {d['latency_s'] * 1000:.0f} ms model, {d['items']} items",
                   f"{curve} ({runs[0]['wall_s']:.1f} -> {last['wall_s']:.1f} s)", ">= 6x at 8", d["target_met"])]


def scale_figures(d: dict[str, Any]) -> list[Figure]:
    runs = d["runs"]
    per = " -> ".join(f"{r['run_s_per_1k']:.1f}" for r in runs)
    sizes = " -> ".join(f"{r['items'] // 1000}k" if r["items"] >= 1000 else str(r["items"]) for r in runs)
    return [Figure(f"linear growth {sizes} items: s per 1k items", f"{per} s (ratio {d['linearity']:.2f})",
                   "flat: 0.8..1.2", d["linearity_met"]),
            Figure("  peak RSS at the largest size", f"{d['peak_rss_mb']:.0f} MB", "<= 500 MB", d["rss_met"])]


def throughput_figures(d: dict[str, Any]) -> list[Figure]:
    value = (f"{d['efficiency']:.0%} ({d['items']['extracted']} items, {d['calls']} calls, {d['wall_s']:.0f} s; "
             f"raw {d['raw_prompt_tok_s']:.0f}/{d['raw_gen_tok_s']:.0f} tok/s)")
    return [Figure("embedded model through the crew vs raw llama.cpp", value, ">= 60%", d["efficiency"] >= 0.6),
            Figure("  prompt tokens per item (embedded)", f"{d['prompt_tokens_per_item']:.0f}")]


def embedded_figures(d: dict[str, Any]) -> list[Figure]:
    raw, crew = d["raw"], d["crewai_llm_call"]
    return [Figure("raw llama.cpp SmolLM2-135M, prompt / generation",
                   f"{raw['prompt_tok_s']:.0f} / {raw['gen_tok_s']:.0f} tok/s ({d['threads']} thread)"),
            Figure("  one CrewAI LLM.call on the same server, end to end",
                   f"{crew['completion_tok_s_end_to_end']:.0f} tok/s generated ({crew['completion_tokens']} tokens, "
                   "prompt cached)")]


def ledger_figures(d: dict[str, Any]) -> list[Figure]:
    return [Figure(f"ledger time per batch, {d['items']} items, scripted model",
                   f"{d['ledger_ms_per_batch']:.1f} ms ({d['share_of_run']:.1%} of a {d['wall_s']:.1f} s run)")]


def rerun_figures(d: dict[str, Any]) -> list[Figure]:
    first, again = d["runs"][0], d["runs"][1]
    return [Figure(f"no-change re-run, {d['items']} items: model calls",
                   f"{again['calls']} calls, {again['wall_s']:.2f} s (first run {first['calls']} calls, "
                   f"{first['wall_s']:.1f} s)", "0 calls", d["target_met"])]


def executor_figures(d: dict[str, Any]) -> list[Figure]:
    """bench/executors.py's figures: a "figures" list of {figure, value, target, met} if it writes one, else its
    "rows" (per size: items, local_s, ray_s, ratio; and fixed_s / per_item_ms per executor)."""
    if d.get("figures"):
        return [Figure(str(r.get("figure", "?")), str(r.get("value", "?")), str(r.get("target", "-")),
                       r.get("met")) for r in d["figures"]]
    sizes = [r for r in d.get("rows", []) if "ratio" in r]
    costs = next((r for r in d.get("rows", []) if "fixed_s" in r), None)
    if not sizes:
        return [Figure("local vs Ray executor", "ran, but executors.json has neither figures nor rows (see its log)")]
    out = [Figure("Ray / local executor, same 2-core machine, scripted model",
                  "; ".join(f"{r['items']} items: {r['ratio']:.2f}x ({r['local_s']:.1f} vs {r['ray_s']:.1f} s)"
                            for r in sizes))]
    if costs:
        out.append(Figure("  fixed cost / per item, local vs Ray",
                          f"{costs['fixed_s']['local']:.1f} / {costs['fixed_s']['ray']:.1f} s; "
                          f"{costs['per_item_ms']['local']:.0f} / {costs['per_item_ms']['ray']:.0f} ms"))
    return out


def quality_figures(d: dict[str, Any]) -> list[Figure]:
    """bench/quality.py: per model and arm, accuracy per field against the issue's targets, and time per item."""
    out = []
    for row in d["rows"]:
        met = all(row["accuracy"].get(k, 1) >= v for k, v in d["targets"].items()) \
            and row["seconds_per_item"] <= d["max_seconds_per_item"] and not row["repeated_summaries"]
        accuracy = ", ".join(f"{k} {v:.2f}" for k, v in row["accuracy"].items())
        out.append(Figure(f"records right, {row['model']} ({row['arm']}), {d['items']} labelled e-mails",
                          f"{accuracy}; {row['seconds_per_item']:.1f} s/item", "category/product >= 0.85, "
                          "urgency >= 0.6, sentiment >= 0.75, <= 15 s/item", met))
    return out


# ------------------------------------------------------------------------------------------------ the suite

SUITE: list[Bench] = [
    Bench("startup", "startup.py", ["--runs", "5"], "startup.json", startup_figures, timeout_s=300),
    Bench("orchestration_overhead", "orchestration_overhead.py", [], "orchestration_overhead.json",
          overhead_figures),
    Bench("datapath_calls", "datapath_calls.py", ["--quick"], "datapath_calls.json", calls_figures),
    Bench("concurrency", "concurrency.py", [], "concurrency.json", concurrency_figures),
    # ---- HOOK: local vs Ray executor (issue 8) ------------------------------------------------------------
    # bench/executors.py comes with `--executor ray`. When the file exists it runs here like the others, with its
    # own defaults, and its bench/results/executors.json is read by executor_figures (a "figures" list of
    # {"figure", "value", "target", "met"} takes precedence over its "rows"). Without the file the table says
    # "not measured yet".
    Bench("executors", "executors.py", [], "executors.json", executor_figures, optional=True,
          pending=[Figure("local vs Ray executor (same 2-core machine)", "not measured yet")]),
    # -------------------------------------------------------------------------------------------------------
    Bench("scale", "scale.py", ["--items", "1000,10000"], "scale.json", scale_figures),
    Bench("crew_throughput", "crew_throughput.py", ["--items", "8"], "crew_throughput.json", throughput_figures,
          needs_weights=True),
    Bench("embedded_model", "embedded_model.py", ["--repeats", "3"], "embedded_model.json", embedded_figures,
          needs_weights=True, timeout_s=300),
    Bench("ledger_overhead", "ledger_overhead.py", [], "ledger_overhead.json", ledger_figures, timeout_s=300),
    Bench("rerun", "rerun.py", [], "rerun.json", rerun_figures, timeout_s=300),
    Bench("quality", "quality.py", ["--models", "qwen2.5-coder-1.5b", "--limit", "10"], "quality.json",
          quality_figures, needs_weights=True, timeout_s=1800),
]


def model_cache() -> Path | None:
    """The folder holding the default embedded model's weights, or None when they are absent."""
    folder = Path(os.environ.get("ETLCREW_MODEL_CACHE") or ROOT / ".etlcrew" / "models")
    try:
        from etlcrew.model_runtime.catalogue import default_entry

        return folder if (folder / default_entry().file).is_file() else None
    except Exception:  # the catalogue moved: any GGUF file will do
        return folder if any(folder.glob("*.gguf")) else None


def run_bench(bench: Bench, env: dict[str, str], quiet: bool) -> dict[str, Any]:
    """Run one benchmark; returns its record for summary.json (exit, seconds, load, figures or why none)."""
    script = BENCH / bench.script
    record: dict[str, Any] = {"name": bench.name, "script": f"bench/{bench.script}", "args": bench.args}
    if not script.exists():
        record["skipped"] = "not written yet" if bench.optional else "script missing"
        record["figures"] = [f.__dict__ for f in bench.pending] or [
            Figure(bench.name, f"skipped: {record['skipped']}").__dict__]
        print(f"\n=== {bench.name}: bench/{bench.script} {record['skipped']}: skipped", flush=True)
        return record
    if bench.needs_weights and "ETLCREW_MODEL_CACHE" not in env:
        record["skipped"] = "no embedded model weights (python main.py models pull)"
        record["figures"] = [Figure(bench.name, "skipped: no model weights").__dict__]
        print(f"\n=== {bench.name}: skipped, {record['skipped']}", flush=True)
        return record
    cmd = [sys.executable, str(script), *bench.args]
    print(f"\n=== {bench.name}: {' '.join(['python', f'bench/{bench.script}', *bench.args])}", flush=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{bench.name}.log"
    result_file = RESULTS / bench.results
    record["load_before"] = load_average()
    started_wall = time.time()
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=bench.timeout_s,
                              check=False)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = None
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["load_after"] = load_average()
    record["exit"] = code
    log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{out}\n--- stderr\n{err}")
    record["log"] = str(log.relative_to(ROOT))
    if not quiet:
        print(out.rstrip())
    fresh = result_file.exists() and result_file.stat().st_mtime >= started_wall - 1
    if code != 0 or not fresh:
        why = "timed out" if code is None else f"exit {code}" if code != 0 else f"{bench.results} not written"
        print(f"  {bench.name} FAILED ({why}); last lines of stderr:\n{err.strip()[-1500:]}", flush=True)
        record["error"] = why
        record["figures"] = [Figure(bench.name, f"FAILED ({why}), see {record['log']}", "-", False).__dict__]
        return record
    data = json.loads(result_file.read_text())
    record["results"] = f"bench/results/{bench.results}"
    try:
        record["figures"] = [f.__dict__ for f in bench.extract(data)]
    except (KeyError, TypeError, ValueError, ZeroDivisionError, StopIteration) as exc:
        record["figures"] = [Figure(bench.name, f"unreadable {bench.results}: {type(exc).__name__}: {exc}",
                                    "-", False).__dict__]
    print(f"  ({record['seconds']:.0f} s, load average {record['load_before'][0]} -> {record['load_after'][0]})",
          flush=True)
    return record


def table(records: list[dict[str, Any]]) -> list[str]:
    """The summary table as lines: figure, value, target, met?, load average (1 min) before -> after the bench."""
    rows = [("figure", "value", "target", "met?", "load")]
    for record in records:
        load = (f"{record['load_before'][0]:.1f}->{record['load_after'][0]:.1f}" if "load_before" in record else "")
        for i, fig in enumerate(record["figures"]):
            met = {True: "yes", False: "NO", None: "-"}[fig["met"]]
            rows.append((fig["figure"], fig["value"], fig["target"], met, load if i == 0 else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--skip", help="comma-separated benchmark names")
    parser.add_argument("--quiet", action="store_true", help="print only the summary table")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their arguments")
    args = parser.parse_args()
    names = [b.name for b in SUITE]
    chosen = set(args.only.split(",")) if args.only else set(names)
    chosen -= set(args.skip.split(",")) if args.skip else set()
    unknown = chosen - set(names)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; known: {', '.join(names)}")
    if args.list:
        for b in SUITE:
            print(f"{b.name:24s} python bench/{b.script} {' '.join(b.args)}"
                  + ("  (needs the model weights)" if b.needs_weights else "")
                  + ("" if (BENCH / b.script).exists() else "  (not written yet)"))
        return

    env = {k: v for k, v in os.environ.items() if k != "ETLCREW_MODEL_CACHE"}
    cache = model_cache()
    if cache:
        env["ETLCREW_MODEL_CACHE"] = str(cache)
    started = time.perf_counter()
    began = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    load_start = load_average()
    print(f"etlcrew benchmark suite, commit {product_commit()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, load average {load_start}; embedded model weights: "
          f"{cache or 'absent (those benchmarks are skipped)'}", flush=True)
    records = [run_bench(b, env, args.quiet) for b in SUITE if b.name in chosen]
    took = time.perf_counter() - started

    print(f"\nsummary (suite took {took / 60:.1f} min; load average = 1-minute value before -> after each benchmark; "
          f"JSON in bench/results/, logs in bench/results/logs/):")
    for line in table(records):
        print("  " + line)
    path = write_results("summary", {
        "started": began, "duration_s": round(took, 1), "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average_start": load_start, "load_average_end": load_average(),
        "model_weights": str(cache) if cache else None, "benchmarks": records,
        "figures": [{"bench": r["name"], **f} for r in records for f in r["figures"]],
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
