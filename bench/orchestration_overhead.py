"""Orchestration overhead: the default crew through etlcrew vs a plain CrewAI crew doing the same three tasks.

How: N inbox items (data/inbox cycled and perturbed, bench/_datapath_common.py) in a temp project, the scripted,
instant model (``ScriptedLLM(default=sample_answer)``), so every second measured is orchestration, not model.
- etlcrew: ``etlcrew.cli.main(["run", "--model", "scripted/NAME", "--full-refresh", "--batch-size", B,
  "--concurrency", C, "--json"])`` in-process: config loading, sources, batches, one CrewAI kickoff per batch
  behind the retry layer, the ledger, the trace, validation, the dlt load into DuckDB, the report.
- plain: per batch, crewai.Agent/Task/Crew built directly (role/goal/backstory and task texts from the same YAML,
  the researcher with the same ``reference_lookup`` tool, the same per-batch structured-output models as
  ``pipeline.batch_runner``: ``findings_model``, ``batch_output_model``, ``outcome_model`` as output_pydantic and
  response_model), kicked off with the same rendered items text; no ledger, no validation, no loading. At
  concurrency C > 1 the batches go through a ThreadPoolExecutor(C). The items are read and rendered before the
  clock starts (the etlcrew side reads its sources inside its timing).
Both sides run in this process with CrewAI imported once through ``etlcrew.crewai_env`` (telemetry off, the
in-process lock backend), after one warm-up run each; then the sides alternate, REPEATS times per concurrency,
and the median wall time is reported. Each run gets a fresh ScriptedLLM, whose history gives the model calls.
Where the time goes: one more etlcrew run at concurrency 1 in a fresh subprocess under cProfile in every thread
(a per-thread profiler started by ``threading.setprofile`` before CrewAI is imported, cleared after a warm-up
run). Each function's own time is put in a bucket by its file (crewai, ledger, dlt, sources, validation,
events/trace, ...); time of library code (pydantic, sqlite3, json, ...) goes to its callers' buckets in proportion
to the time each caller spent in it; blocking waits (lock acquire, sleep, queue get) are set apart. cProfile
slows Python code more than C code, so the shares are indicative.
Target (issue 8): etlcrew / plain ≤ 1.1×.
Usage: python bench/orchestration_overhead.py [--items 100] [--batch-size 10] [--levels 1,2] [--repeats 3]
       [--no-profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import (
    ROOT,
    count_rows,
    generate_inbox,
    load_average,
    make_project,
    run_cli,
    set_env,
    write_results,
)
from _profile_buckets import WAITING, Snapshot, attribute, top_functions

CREW = "support_inbox"
CREW_DEFAULT_CONCURRENCY = int(yaml.safe_load((ROOT / "config" / "crews.yaml").read_text())[CREW]["concurrency"])
TARGET_RATIO = 1.1

@dataclass
class PlainBatch:
    """One batch for the plain crew: its item ids and the placeholder values (items text already rendered)."""

    ids: list[str]
    values: dict[str, str]


def _fill(text: str, values: dict[str, str]) -> str:
    """``{name}`` -> value, ``{{``/``}}`` -> braces: what CrewAI's own interpolation would do, done up front so
    braces in the source text cannot break the kickoff (as etlcrew does)."""
    return re.sub(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_\-]*)\}",
                  lambda m: m.group(0)[0] if m.group(1) is None else values[m.group(1)], text).strip()


def plain_batches(project_dir: Path, batch_size: int) -> tuple[list[PlainBatch], Any]:
    """Read the crew's sources and render each batch exactly as the data path does; returns (batches, schema)."""
    import datetime as dt

    from etlcrew.pipeline.batches import batched, describe_schema, new_data_tag, render_items
    from etlcrew.pipeline.sources import iter_items
    from etlcrew.specs.loader import load_project

    project = load_project(project_dir / "config", check_references=False)
    spec = project.crews[CREW]
    schema = spec.output_schema
    items = [item for source in spec.sources for item in iter_items(source, project_dir) if not item.quarantined]
    tag = new_data_tag()
    common = {**{k: str(v) for k, v in spec.inputs.items()}, "schema": describe_schema(schema), "crew": CREW,
              "run_id": "plain", "today": dt.date.today().isoformat(), "findings": "(see context)",
              "records": "(see context)"}
    out = [PlainBatch(batch.item_ids, {**common, "items": render_items(batch, tag, spec.chars_per_item),
                                       "batch": str(batch.number)})
           for batch in batched(items, batch_size)]
    return out, schema


class PlainCrew:
    """support_inbox as a CrewAI user would write it without etlcrew: Agent/Task/Crew per batch, kickoff()."""

    def __init__(self, project_dir: Path, schema: Any, llm: Any) -> None:
        from etlcrew.tools.reference_lookup import ReferenceLookupTool

        self.agents = yaml.safe_load((project_dir / "config" / "agents.yaml").read_text())
        self.tasks = yaml.safe_load((project_dir / "config" / "tasks.yaml").read_text())
        self.schema, self.llm = schema, llm
        self.tool = ReferenceLookupTool()

    def kickoff(self, batch: PlainBatch) -> Any:
        """Build the three agents and tasks for ``batch`` and kick the crew off once."""
        from crewai import Agent, Crew, Process, Task

        from etlcrew.pipeline.batches import batch_output_model, findings_model
        from etlcrew.pipeline.outcome import outcome_model

        models = {"extract": findings_model(batch.ids), "transform": batch_output_model(self.schema, batch.ids),
                  "load": outcome_model(batch.ids)}
        agents = {}
        for name in ("researcher", "transformer", "publisher"):
            spec = self.agents[name]
            agents[name] = Agent(role=_fill(spec["role"], batch.values), goal=_fill(spec["goal"], batch.values),
                                 backstory=_fill(spec["backstory"], batch.values), llm=self.llm,
                                 tools=[self.tool] if spec.get("tools") else [], max_iter=spec.get("max_iter", 25))
        tasks: dict[str, Task] = {}
        for name in ("extract", "transform", "load"):
            spec = self.tasks[name]
            tasks[name] = Task(description=_fill(spec["description"], batch.values),
                               expected_output=_fill(spec["expected_output"], batch.values),
                               agent=agents[spec["agent"]], context=[tasks[c] for c in spec.get("context", [])],
                               output_pydantic=models[name], response_model=models[name])
        crew = Crew(agents=list(agents.values()), tasks=list(tasks.values()), process=Process.sequential)
        return crew.kickoff()

    def run(self, batches: list[PlainBatch], concurrency: int) -> None:
        """Every batch once: in order, or through a thread pool of ``concurrency`` workers."""
        if concurrency == 1:
            for batch in batches:
                self.kickoff(batch)
            return
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="plain") as pool:
            list(pool.map(self.kickoff, batches))


# ------------------------------------------------------------------------------------------------- profiling


class StepTimer:
    """Measurement only: wraps a few functions to sum their wall time over all threads (unprofiled runs)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.totals: dict[str, list[float]] = {}

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with self.lock:
                    entry = self.totals.setdefault(label, [0.0, 0])
                    entry[0] += time.perf_counter() - started
                    entry[1] += 1

        setattr(owner, name, timed)

    def take(self) -> dict[str, dict[str, float]]:
        """The totals since the last take, as {label: {"s": seconds, "n": calls}}; resets them."""
        with self.lock:
            out = {k: {"s": round(v[0], 3), "n": int(v[1])} for k, v in self.totals.items()}
            self.totals = {}
        return out



def profile_child(out_path: Path, project: Path, state: Path, items: int, batch_size: int,
                  pstats_out: Path | None = None) -> None:
    """In a fresh process: per-thread profilers from the start, a warm-up run, then one profiled run at
    concurrency 1; writes the bucket shares and top functions to ``out_path`` (and the merged profile, for
    snakeviz or ``python -m pstats``, to ``pstats_out``)."""
    profilers: list[cProfile.Profile] = []
    guard = threading.Lock()

    def start_profiler(*_: Any) -> None:
        profiler = cProfile.Profile()
        with guard:
            profilers.append(profiler)
        profiler.enable()  # replaces this hook for the thread

    threading.setprofile(start_profiler)
    set_env(project, state, state.parent / "out-profile")
    from etlcrew.crewai_env import import_crewai

    import_crewai(state)
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer

    argv = ["run", CREW, "--model", "scripted/profiled", "--full-refresh", "--batch-size", str(batch_size),
            "--concurrency", "1"]
    register_scripted("profiled", ScriptedLLM(default=sample_answer))
    run_cli(argv)  # warm-up: threads (CrewAI's event handlers among them) start with their profiler
    main = cProfile.Profile()
    with guard:
        for profiler in profilers:
            profiler.clear()
    llm = ScriptedLLM(default=sample_answer)
    register_scripted("profiled", llm)
    started = time.perf_counter()
    main.enable()
    code, summary = run_cli(argv)
    main.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(main)
    with guard:
        for profiler in profilers:
            snapshot = Snapshot(profiler)
            if snapshot.stats:  # a thread that ran nothing since the warm-up
                stats.add(snapshot)
    if pstats_out:
        stats.dump_stats(pstats_out)
    raw = stats.stats  # type: ignore[attr-defined]
    buckets = attribute(raw)
    out_path.write_text(json.dumps({
        "exit": code, "wall_s": round(wall, 3), "items": items, "calls": len(llm.history),
        "threads_profiled": len(profilers) + 1, "buckets_s": {k: round(v, 4) for k, v in buckets.items()},
        "top": top_functions(raw, wall), "summary_calls": summary.get("llm", {}).get("calls"),
    }))


# ---------------------------------------------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--levels", default=f"1,{CREW_DEFAULT_CONCURRENCY}",
                        help="concurrency levels, comma-separated (default 1 and the crew's own)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--pstats-out", type=Path, help="also write the merged cProfile stats to this file")
    parser.add_argument("--profile-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile_child:
        profile_child(args.profile_child, args.project, args.profile_child.parent / "state-profile", args.items,
                      args.batch_size, args.pstats_out)
        return
    levels = sorted({int(x) for x in args.levels.split(",")})

    base = Path(tempfile.mkdtemp(prefix="etlcrew-bench-overhead-"))
    project = make_project(base, with_inbox=True)
    generate_inbox(project / "data" / "inbox", args.items)
    state = base / "state"
    set_env(project, state, base / "out")
    from etlcrew.crewai_env import import_crewai

    import_crewai(state)  # both sides: telemetry off, CrewAI's in-process lock backend
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer

    batches, schema = plain_batches(project, args.batch_size)
    import crewai

    import etlcrew.pipeline.targets as pipeline_targets

    steps = StepTimer()
    steps.wrap(crewai.Crew, "kickoff", "Crew.kickoff")
    steps.wrap(pipeline_targets, "land_records", "land_records (dlt)")

    def etlcrew_run(concurrency: int) -> dict[str, Any]:
        llm = ScriptedLLM(default=sample_answer)
        register_scripted("overhead", llm)
        output = base / f"out-{concurrency}"
        set_env(project, state, output)
        started = time.perf_counter()
        code, summary = run_cli(["run", CREW, "--model", "scripted/overhead", "--full-refresh", "--batch-size",
                                 str(args.batch_size), "--concurrency", str(concurrency)])
        wall = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"etlcrew run failed ({code}): {summary}")
        return {"wall_s": wall, "steps": steps.take(), "calls": len(llm.history),
                "summary_calls": summary["llm"]["calls"],
                "prompt_tokens": summary["llm"]["prompt_tokens"], "rows": count_rows(output / f"{CREW}.duckdb"),
                "first_prompt": llm.history[0].prompt}

    def plain_run(concurrency: int) -> dict[str, Any]:
        llm = ScriptedLLM(default=sample_answer)
        crew = PlainCrew(project, schema, llm)
        started = time.perf_counter()
        crew.run(batches, concurrency)
        wall = time.perf_counter() - started
        history = llm.history
        return {"wall_s": wall, "steps": steps.take(), "calls": len(history),
                "prompt_tokens": sum(max(1, len(c.prompt) // 4) for c in history), "first_prompt": history[0].prompt}

    sides: dict[str, Callable[[int], dict[str, Any]]] = {"etlcrew": etlcrew_run, "plain": plain_run}
    steps.take()
    warm = {name: run(1) for name, run in sides.items()}
    tag = re.compile(r"DATA-[0-9a-f]{8}")
    same_prompt = tag.sub("DATA-x", warm["etlcrew"]["first_prompt"]) == tag.sub("DATA-x", warm["plain"]["first_prompt"])

    load_before = load_average()
    samples: dict[int, dict[str, list[dict[str, Any]]]] = {c: {"etlcrew": [], "plain": []} for c in levels}
    for _ in range(args.repeats):
        for concurrency in levels:
            for name, run in sides.items():
                samples[concurrency][name].append(run(concurrency))
    load_after = load_average()

    profile: dict[str, Any] | None = None
    if not args.no_profile:
        out_path = base / "profile.json"
        proc = subprocess.run([sys.executable, __file__, "--profile-child", str(out_path), "--project", str(project),
                               "--items", str(args.items), "--batch-size", str(args.batch_size),
                               *(["--pstats-out", str(args.pstats_out.resolve())] if args.pstats_out else [])],
                              capture_output=True, text=True, check=False)
        if proc.returncode == 0 and out_path.exists():
            profile = json.loads(out_path.read_text())
        else:
            print(f"profile run failed (exit {proc.returncode}): {proc.stderr[-2000:]}", file=sys.stderr)

    rows = []
    for concurrency in levels:
        mine, plain = samples[concurrency]["etlcrew"], samples[concurrency]["plain"]
        e_wall = statistics.median(s["wall_s"] for s in mine)
        p_wall = statistics.median(s["wall_s"] for s in plain)
        e_mid = sorted(mine, key=lambda s: s["wall_s"])[len(mine) // 2]
        p_mid = sorted(plain, key=lambda s: s["wall_s"])[len(plain) // 2]
        rows.append({
            "concurrency": concurrency, "etlcrew_s": round(e_wall, 3), "plain_s": round(p_wall, 3),
            "ratio": round(e_wall / p_wall, 3), "etlcrew_runs_s": [round(s["wall_s"], 3) for s in mine],
            "plain_runs_s": [round(s["wall_s"], 3) for s in plain],
            "etlcrew_calls": mine[0]["calls"], "plain_calls": plain[0]["calls"],
            "etlcrew_prompt_tokens": mine[0]["prompt_tokens"], "plain_prompt_tokens": plain[0]["prompt_tokens"],
            "rows_loaded": mine[0]["rows"], "etlcrew_steps": e_mid["steps"], "plain_steps": p_mid["steps"],
            "calls_equal": all(s["calls"] == plain[0]["calls"] for s in mine + plain),
        })

    print(f"{CREW}, {args.items} generated inbox items, batch size {args.batch_size} ({len(batches)} batches), "
          f"scripted instant model; median of {args.repeats} after a warm-up, sides alternating, in-process;\n"
          f"etlcrew = cli.main run (sources, ledger, trace, validation, dlt load, report); plain = crewai Crew "
          f"per batch, kickoff only (items pre-rendered);\nload average before {load_before}, after {load_after}; "
          f"first prompt identical on both sides (data tag aside): {same_prompt}")
    print(f"  {'conc':>4} {'etlcrew s':>9} {'plain s':>8} {'ratio':>6} {'calls e/p':>10} {'prompt tok e/p':>15} "
          f"{'rows':>5}  runs etlcrew | plain")
    for r in rows:
        print(f"  {r['concurrency']:>4} {r['etlcrew_s']:>9.2f} {r['plain_s']:>8.2f} {r['ratio']:>5.2f}x "
              f"{r['etlcrew_calls']:>4}/{r['plain_calls']:<5} {r['etlcrew_prompt_tokens']:>7}/"
              f"{r['plain_prompt_tokens']:<7} {r['rows_loaded']:>5}  "
              f"{' '.join(f'{x:.2f}' for x in r['etlcrew_runs_s'])} | "
              f"{' '.join(f'{x:.2f}' for x in r['plain_runs_s'])}")
    print("  unprofiled, median run: time inside Crew.kickoff (summed over batch threads) and in land_records")
    for r in rows:
        kick_e, kick_p = r["etlcrew_steps"].get("Crew.kickoff", {}), r["plain_steps"].get("Crew.kickoff", {})
        load = r["etlcrew_steps"].get("land_records (dlt)", {"s": 0.0, "n": 0})
        print(f"  {r['concurrency']:>4} etlcrew: kickoff {kick_e.get('s', 0):.2f} s/{kick_e.get('n', 0)}, "
              f"land_records {load['s']:.2f} s/{load['n']} ({load['s'] / r['etlcrew_s']:.0%} of the run); "
              f"plain: kickoff {kick_p.get('s', 0):.2f} s/{kick_p.get('n', 0)}")
    worst = max(r["ratio"] for r in rows)
    met = worst <= TARGET_RATIO
    print(f"  target etlcrew/plain <= {TARGET_RATIO}x: {'MET' if met else 'NOT MET'} (worst {worst:.2f}x); "
          f"same model calls on both sides: {all(r['calls_equal'] for r in rows)}")
    if profile:
        buckets = profile["buckets_s"]
        waiting = buckets.pop(WAITING, 0.0)
        busy = sum(buckets.values())
        print(f"\nwhere the time goes: etlcrew run at concurrency 1 under cProfile in {profile['threads_profiled']} "
              f"threads: {profile['wall_s']:.2f} s wall (profiled), {busy:.2f} s own time in all threads, "
              f"{waiting:.2f} s blocked waiting (not counted); library code goes to its callers' buckets")
        print("  " + ", ".join(f"{b} {s:.2f} s ({s / busy:.0%})" for b, s in sorted(buckets.items(),
                                                                                 key=lambda kv: -kv[1])))
        print(f"  {'bucket':15s} {'cum s':>6} {'calls':>6}  function (top by cumulative time, wrapper chains once)")
        for entry in sorted(profile["top"], key=lambda e: (-buckets.get(e["bucket"], 0), -e["cumulative_s"])):
            print(f"  {entry['bucket']:15s} {entry['cumulative_s']:>6.2f} {entry['calls']:>6}  {entry['function']}")
    path = write_results("orchestration_overhead", {
        "crew": CREW, "items": args.items, "batch_size": args.batch_size, "batches": len(batches),
        "repeats": args.repeats, "load_average_before": load_before, "load_average_after": load_after,
        "same_first_prompt": same_prompt, "levels": rows, "worst_ratio": worst, "target": TARGET_RATIO,
        "target_met": met, "profile": profile,
    })
    print(f"wrote {path}")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
