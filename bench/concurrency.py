"""Throughput of the default crew at concurrency 1, 2, 4, 8 against a model server adding 500 ms per call.

How: a stub OpenAI-compatible chat-completions server (stdlib ThreadingHTTPServer on 127.0.0.1, port 0, in this
process) sleeps 0.5 s per request, then answers with the simplest JSON valid for ``response_format.json_schema
.schema`` when one is sent (``model_runtime.scripted.sample_instance``, after resolving any $ref/$defs), else a
plain-text final answer, with a ``usage`` block. The default crew (support_inbox) runs in-process through
``etlcrew.cli.main(["run", "--model", "openai/stub", "--base-url", URL, "--batch-size", 4, "--concurrency", C,
"--json"])`` on 64 generated inbox items (data/inbox cycled and perturbed), OPENAI_API_KEY unset (the provider
then sends a dummy key to a base_url). Wall time of each run (from cli.main call to return, CrewAI already
imported by a warm-up run) gives items/s; speedup is against concurrency 1. The server records how many requests
were in flight at once (peak) and each request's time, so the figures separate model latency from in-process
work. ``--profile`` additionally times the per-batch load step (dlt) and crew build/kickoff overhead via a
wrapper around the product's functions (measurement only; the product is not modified).
Target: ≥ 6× items/s at concurrency 8 vs 1.
Usage: python bench/concurrency.py [--quick] [--items N] [--profile] [--levels 1,8]
       [--what-if-single-load] [--what-if-thread-lock]   (experiments; results in concurrency-what-if-*.json)
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datapath_common import (
    count_rows,
    generate_inbox,
    load_average,
    make_project,
    run_cli,
    set_env,
    write_results,
)

LATENCY_S = 0.5
BATCH_SIZE = 4


def resolve_refs(schema: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """Inline ``{"$ref": "#/$defs/X"}`` (and ``definitions``) so ``sample_instance`` sees a flat schema."""
    if isinstance(schema, dict):
        if defs is None:
            defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
        if "$ref" in schema and depth < 20:
            target = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
            return resolve_refs(copy.deepcopy(target), defs, depth + 1)
        return {k: resolve_refs(v, defs, depth) for k, v in schema.items() if k not in ("$defs", "definitions")}
    if isinstance(schema, list):
        return [resolve_refs(v, defs, depth) for v in schema]
    return schema


class StubStats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.requests = 0
        self.with_schema = 0
        self.with_refs = 0
        self.with_tools = 0
        self.auth_headers: set[str] = set()
        self.first_at: float | None = None
        self.last_at: float = 0.0

    def reset(self) -> None:
        with self.lock:
            self.peak = self.requests = self.with_schema = self.with_refs = self.with_tools = 0
            self.first_at, self.last_at = None, 0.0


def make_handler(stats: StubStats, latency: float) -> type[BaseHTTPRequestHandler]:
    from etlcrew.model_runtime.scripted import sample_instance

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "bench"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with stats.lock:
                stats.in_flight += 1
                stats.requests += 1
                stats.peak = max(stats.peak, stats.in_flight)
                stats.first_at = stats.first_at or time.monotonic()
                stats.auth_headers.add(self.headers.get("Authorization", "")[:16])
            try:
                time.sleep(latency)
                schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
                if schema is not None:
                    text = json.dumps(schema)
                    with stats.lock:
                        stats.with_schema += 1
                        stats.with_refs += "$ref" in text
                    content = json.dumps(sample_instance(resolve_refs(schema)))
                else:
                    content = "Thought: I have what I need.\nFinal Answer: stub findings for every item."
                if body.get("tools"):
                    with stats.lock:
                        stats.with_tools += 1
                prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
                self._send(200, {
                    "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "stub"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": len(content) // 4,
                              "total_tokens": prompt + len(content) // 4},
                })
            finally:
                with stats.lock:
                    stats.in_flight -= 1
                    stats.last_at = time.monotonic()

    return Handler


class StepTimer:
    """Measurement only: wraps product functions to sum the time spent in them (per thread, all threads)."""

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

    def reset(self) -> None:
        with self.lock:
            self.totals = {}


def patch_single_load() -> None:
    """Experiment only (not the product's behaviour): defer all loads of a run into one ``land_records`` call."""
    import etlcrew.pipeline.finish as finish
    import etlcrew.pipeline.targets as targets

    real_load, real_finish = targets.land_records, finish.deliver
    buffered: list[tuple[tuple[Any, ...], list[Any], list[Any]]] = []

    def buffer_load(crew: str, schema: Any, target_list: list[Any], records: list[Any], quarantined: list[Any],
                    run_id: str, settings: Any, now: Any = None) -> Any:
        buffered.append(((crew, schema, target_list, run_id, settings), list(records), list(quarantined)))
        return targets.LandResult()

    def flush_then_finish(*args: Any, **kwargs: Any) -> Any:
        if buffered:
            (crew, schema, target_list, run_id, settings) = buffered[0][0]
            real_load(crew, schema, target_list, [r for b in buffered for r in b[1]],
                      [q for b in buffered for q in b[2]], run_id, settings)
            buffered.clear()
        return real_finish(*args, **kwargs)

    targets.land_records = buffer_load
    finish.deliver = flush_then_finish


def use_thread_locks() -> None:
    """Experiment only: CrewAI's named locks as per-name threading locks (no 0.25 s file-lock polling)."""
    import contextlib

    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(Path(os.environ["ETLCREW_HOME"]))
    from crewai_core.lock_store import set_lock_backend

    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    @contextlib.contextmanager
    def backend(name: str, timeout: float = 120) -> Any:
        with guard:
            held = locks.setdefault(name, threading.Lock())
        if not held.acquire(timeout=timeout):
            raise TimeoutError(name)
        try:
            yield
        finally:
            held.release()

    set_lock_backend(backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 items, concurrency 1 and 8")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--profile", action="store_true", help="also time load and kickoff steps")
    parser.add_argument("--what-if-single-load", action="store_true",
                        help="experiment: buffer every batch's records and load them with one land_records call "
                             "just before the run finishes (patched in this process only), to show the cost of "
                             "loading per batch on the main thread")
    parser.add_argument("--what-if-thread-lock", action="store_true",
                        help="experiment: give CrewAI an in-process threading lock backend "
                             "(crewai_core.lock_store.set_lock_backend) instead of its polling file lock")
    parser.add_argument("--levels", default=None, help="comma-separated concurrency levels (default 1,2,4,8)")
    args = parser.parse_args()
    items = 16 if args.quick else args.items
    levels = [1, 8] if args.quick else [1, 2, 4, 8]
    if args.levels:
        levels = [int(x) for x in args.levels.split(",")]

    base = Path(tempfile.mkdtemp(prefix="etlcrew-bench-conc-"))
    stats = StubStats()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(stats, LATENCY_S))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    runs = []
    try:
        project = make_project(base, with_inbox=True)
        generate_inbox(project / "data" / "inbox", items)
        state = base / "state"
        set_env(project, state, base / "out")
        os.environ.pop("OPENAI_API_KEY", None)
        timer = StepTimer()
        if args.profile:
            import etlcrew.pipeline.datapath as datapath
            import etlcrew.pipeline.targets as targets

            timer.wrap(targets, "land_records", "land_records (dlt, main thread)")
            timer.wrap(datapath.BatchRunner, "_kickoff", "kickoff incl. model calls (batch threads)")
            import etlcrew.crews.builder as builder

            timer.wrap(builder, "build_crew", "build_crew (batch threads)")

        if args.what_if_single_load:
            patch_single_load()
        if args.what_if_thread_lock:
            use_thread_locks()

        def one_run(concurrency: int, n_items: int | None = None) -> dict[str, Any]:
            output = base / "out"
            shutil.rmtree(output, ignore_errors=True)
            stats.reset()
            timer.reset()
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            code, summary = run_cli(["run", "--full-refresh", "--model", "openai/stub", "--base-url", url,
                                     "--batch-size", str(BATCH_SIZE), "--concurrency", str(concurrency)])
            wall = time.perf_counter() - started
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            if code != 0:
                raise SystemExit(f"run failed ({code}): {summary}")
            model_span = (stats.last_at - stats.first_at) if stats.first_at else 0.0
            return {
                "concurrency": concurrency, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                "items": summary["items"],
                "items_per_s": round(summary["items"]["extracted"] / wall, 3),
                "rows_loaded": count_rows(output / "support_inbox.duckdb"),
                "requests": stats.requests, "peak_in_flight": stats.peak,
                "first_to_last_model_call_s": round(model_span, 3),
                "llm": summary["llm"], "schemas": stats.with_schema, "schemas_with_ref": stats.with_refs,
                "requests_with_tools": stats.with_tools,
                "steps": {k: {"total_s": round(v[0], 3), "count": v[1]} for k, v in timer.totals.items()},
            }

        # warm-up: imports CrewAI, dlt, duckdb (several seconds) so the timed runs measure the data path
        warm_items = project / "data" / "inbox"
        keep = sorted(warm_items.iterdir())
        hold = base / "hold"
        hold.mkdir()
        for p in keep[BATCH_SIZE:]:
            p.rename(hold / p.name)
        one_run(1)
        for p in hold.iterdir():
            p.rename(warm_items / p.name)

        load_before = load_average()
        for level in levels:
            runs.append(one_run(level))
            print(f"  concurrency {level}: {runs[-1]['wall_s']:.1f} s", file=sys.stderr)
        load_after = load_average()
    finally:
        server.shutdown()
        shutil.rmtree(base, ignore_errors=True)

    first = runs[0]
    for r in runs:
        r["speedup"] = round(first["wall_s"] / r["wall_s"], 2)
        batches = math.ceil(items / BATCH_SIZE)
        waves = math.ceil(batches / r["concurrency"])
        r["ideal_s"] = round(waves * first["requests"] / batches * LATENCY_S, 1)
    print(f"support_inbox, {items} generated inbox items, batch size {BATCH_SIZE}, stub OpenAI-compatible server on "
          f"127.0.0.1 adding {LATENCY_S * 1000:.0f} ms per call;\nin-process cli.main after a warm-up run; "
          f"wall time per run; load average before {load_before}, after {load_after}; OPENAI_API_KEY unset "
          f"(Authorization sent: {sorted(stats.auth_headers)})")
    print(f"  {'conc':>4} {'wall s':>7} {'items/s':>7} {'speedup':>7} {'ideal s':>7} {'requests':>8} "
          f"{'peak in flight':>14} {'rows':>5} {'process CPU s':>13}")
    for r in runs:
        print(f"  {r['concurrency']:>4} {r['wall_s']:>7.1f} {r['items_per_s']:>7.2f} {r['speedup']:>6.2f}x "
              f"{r['ideal_s']:>7.1f} {r['requests']:>8} {r['peak_in_flight']:>14} {r['rows_loaded']:>5} "
              f"{r['cpu_s']:>13.1f}")
    if args.profile:
        print("  time inside product steps (summed over threads):")
        for r in runs:
            steps = "; ".join(f"{k} {v['total_s']:.1f} s/{v['count']}" for k, v in r["steps"].items())
            print(f"    conc {r['concurrency']}: {steps}")
    print(f"  'ideal s' = batches/concurrency (rounded up) x model calls per batch x {LATENCY_S} s; structured-output "
          f"requests {runs[0]['schemas']} per run, with $ref: {runs[0]['schemas_with_ref']}")
    last = runs[-1]
    met = last["concurrency"] == 8 and last["speedup"] >= 6
    print(f"  target >= 6x at concurrency 8: {'MET' if met else 'NOT MET'} ({last['speedup']:.2f}x)")
    experiments = [e for e, on in (("single-load", args.what_if_single_load),
                                    ("thread-lock", args.what_if_thread_lock)) if on]
    name = "-what-if-".join(["concurrency", *experiments]) if experiments else "concurrency"
    if args.what_if_single_load:
        print("  EXPERIMENT: loads deferred into one land_records call per run (patched in-process, not the product)")
    if args.what_if_thread_lock:
        print("  EXPERIMENT: CrewAI lock backend = in-process threading locks (set_lock_backend), not its file lock")
    path = write_results(name, {
        "items": items, "batch_size": BATCH_SIZE, "latency_s": LATENCY_S, "load_average_before": load_before,
        "load_average_after": load_after, "runs": runs, "target_met": met,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
