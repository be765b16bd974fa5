"""``process: graph`` overhead: per item against ``sequential``, LangGraph's start-up, checkpoint store per item.

How: N inbox items (data/inbox cycled and perturbed, bench/_datapath_common.py) in a temp project and the
scripted, instant model (``ScriptedLLM(default=sample_answer)``), so the time measured is orchestration, not model.
Both processes run the shipped inbox crew in this process (``run --full-refresh``, its concurrency 2), alternating,
REPEATS times each after a warm-up of each; the median wall time is reported, and the overhead per item is
(graph - sequential) / N. The two do not make the same calls: sequential runs the publisher's load phase once per
batch of 10 (N/10 more calls), graph has no load node; both call the transform once per item (the model is
instant, so a call costs only CrewAI's kickoff, ~10-20 ms).
Start-up: a fresh ``python -c`` importing LangGraph and its SQLite checkpointer through ``load_langgraph``
(median of 3), minus the same interpreter's bare start.
Checkpoint store: the bytes ``graph_checkpoints.db`` holds (``checkpoints.store_size``) after a graph run, whose
landed threads are pruned; and after a run whose every item waits in ``approve`` (nothing pruned: what a thread
costs while it waits).
Usage: python bench/graph_overhead.py [--items 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import generate_inbox, load_average, make_project, run_cli, set_env, write_results

APPROVE_ALL = "  routes:\n    transform:\n      - {when: \"item_id != ''\", goto: approve}\n"


def startup_s() -> float:
    """Seconds LangGraph adds to a process's start (median of 3 fresh interpreters)."""
    code = "from etlcrew.pipeline.graph import load_langgraph; load_langgraph(); " \
           "import langgraph.graph, langgraph.checkpoint.sqlite, langgraph.types"

    def timed(source: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", source], check=True)
        return time.perf_counter() - start

    return statistics.median(timed(code) for _ in range(3)) - statistics.median(timed("pass") for _ in range(3))


def timed_run(process: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    start = time.perf_counter()
    code, summary = run_cli(["run", "--model", "scripted/graphbench", "--full-refresh", "--process", process])
    assert code == 0, summary
    return time.perf_counter() - start, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="etlcrew-graph-"))
    project = make_project(base, with_inbox=True)
    generate_inbox(project / "data" / "inbox", args.items)
    (project / "data" / "docs").mkdir(exist_ok=True)  # the research_brief crew's source folder must exist
    state = base / "state"
    set_env(project, state, base / "out")
    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(state)
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer
    from etlcrew.pipeline.graph.checkpoints import store_size

    register_scripted("graphbench", ScriptedLLM(default=sample_answer))
    loads = [load_average()]
    times: dict[str, list[float]] = {"sequential": [], "graph": []}
    calls: dict[str, int] = {}
    for repeat in range(args.repeats + 1):
        for process in ("sequential", "graph"):
            seconds, summary = timed_run(process)
            calls[process] = summary["llm"]["calls"]
            if repeat:  # the first of each is the warm-up
                times[process].append(seconds)
    pruned = store_size(state)
    crews = project / "config" / "crews.yaml"
    crews.write_text(crews.read_text().replace("  process: sequential\n", "  process: graph\n" + APPROVE_ALL, 1))
    code, waiting = run_cli(["run", "--model", "scripted/graphbench", "--full-refresh"])
    assert code == 0, waiting
    held = store_size(state)
    loads.append(load_average())
    seq, graph = statistics.median(times["sequential"]), statistics.median(times["graph"])
    result = {
        "items": args.items, "repeats": args.repeats, "times_s": times, "calls": calls,
        "sequential_s": round(seq, 2), "graph_s": round(graph, 2),
        "overhead_ms_per_item": round((graph - seq) / args.items * 1000, 1),
        "startup_s": round(startup_s(), 2),
        "checkpoint_bytes_after_pruning": pruned, "checkpoint_bytes_per_item_after_pruning": round(pruned / args.items),
        "checkpoint_bytes_per_waiting_item": round((held - pruned) / args.items),
        "waiting_run_status": waiting.get("status"), "load_average_before_after": loads,
    }
    print(f"{args.items} items, scripted instant model, median of {args.repeats}: sequential {seq:.2f} s "
          f"({calls['sequential']} calls), graph {graph:.2f} s ({calls['graph']} calls): "
          f"{result['overhead_ms_per_item']} ms per item")
    print(f"LangGraph start-up: {result['startup_s']} s; checkpoint store after pruning: {pruned} bytes "
          f"({result['checkpoint_bytes_per_item_after_pruning']} per item); a waiting thread: "
          f"{result['checkpoint_bytes_per_waiting_item']} bytes; load average {loads}")
    print(f"written: {write_results('graph_overhead', result)}")


if __name__ == "__main__":
    main()
