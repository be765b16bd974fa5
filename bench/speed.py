"""Speed per correct record on the embedded default model, its lower bound, and the slowdown on a busy machine.

How, for the settings in the environment (ETLCREW_MODEL_THREADS / _POLL / _SPECULATIVE, README Performance):
1. A fresh in-process llama.cpp server, started exactly as a run starts it (slots, context, threads, poll,
   speculative decoding), so the crew reuses it.
2. Its raw speed, measured in this run: one request with a ~1,000-token prompt and the prompt cache off (prompt
   tok/s), one generating 128 tokens (generation tok/s); llama.cpp's own ``timings``.
3. The crew: ``python main.py eval --limit N --json`` in-process (throwaway state, scored on the shipped labels).
   The server's ``/metrics`` before and after give the prompt tokens it evaluated, those it served from its
   cache, and the tokens it generated; ``eval`` gives the tokens sent, the calls and the correct records.
4. Lower bound = evaluated prompt tokens / raw prompt speed + generated tokens / raw generation speed: what
   llama.cpp alone needs for the tokens this run made it compute, one stream at a time. Headline: crew ÷ bound.
With ``--busy N``: the same again beside N CPU-bound processes (a fresh server, so a cold cache as in the idle
pass), and the slowdown busy ÷ idle from this one invocation. Offline; needs ``python main.py models pull``.

    python bench/speed.py [--limit 10] [--busy 1,2] [--no-idle] [--tag NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _datapath_common import load_average, make_project, run_cli, set_env, write_results  # noqa: E402

RAW_PROMPT = "Summarise these support notes. " + " ".join(
    p.read_text(errors="replace")[:700] for p in sorted((ROOT / "data/inbox").iterdir())[:6])
BUSY_LOOP = "while True: pass"


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=900) as response:
        return json.loads(response.read())


def raw_speed(url: str) -> dict[str, float]:
    """Prompt tok/s on ~1,000 uncached tokens, generation tok/s over 128 tokens: llama.cpp's own timings."""
    long = post(url + "/chat/completions", {"messages": [{"role": "user", "content": RAW_PROMPT}], "max_tokens": 1,
                                            "temperature": 0, "cache_prompt": False})["timings"]
    gen = post(url + "/chat/completions", {"messages": [{"role": "user", "content": "Count from 1 to 200."}],
                                           "max_tokens": 128, "temperature": 0, "ignore_eos": True,
                                           "cache_prompt": False})["timings"]
    return {"prompt_tokens": long["prompt_n"], "prompt_tok_s": round(long["prompt_per_second"], 1),
            "gen_tok_s": round(gen["predicted_per_second"], 1)}


def metrics(root: str) -> dict[str, float]:
    """llama.cpp's Prometheus counters, ``llamacpp:`` stripped."""
    with urllib.request.urlopen(root + "/metrics", timeout=30) as response:
        text = response.read().decode()
    pairs = (line.split() for line in text.splitlines() if line.startswith("llamacpp:"))
    return {name.removeprefix("llamacpp:"): float(value) for name, value in pairs}


def start(settings: Any) -> Any:
    """The server a run of the default crew would start (providers._build_local), started first."""
    from etlcrew.model_runtime.catalogue import default_entry
    from etlcrew.model_runtime.providers import MIN_SLOTS, _draft_weights
    from etlcrew.model_runtime.server import DEFAULT_CTX_PER_SLOT, start_server, stop_all
    from etlcrew.model_runtime.weights import ensure_weights

    stop_all()
    entry = default_entry()
    return start_server(ensure_weights(entry, settings.model_cache_dir), alias=entry.name, parallel=MIN_SLOTS,
                        ctx_per_slot=min(DEFAULT_CTX_PER_SLOT, entry.context_size),
                        draft_path=_draft_weights(settings, entry.name),
                        **({"repeat_penalty": entry.repeat_penalty} if entry.repeat_penalty else {}))


def one_pass(settings: Any, limit: int, labels: str | None) -> dict[str, Any]:
    """Raw speed, then the crew's eval, on a fresh server; every figure of the report for one machine state."""
    load_before = load_average()
    server = start(settings)
    raw = raw_speed(server.url)
    before = metrics(server.root)
    args = ["eval", "--limit", str(limit), *(["--labels", labels] if labels else [])]
    started = time.perf_counter()
    code, summary = run_cli(args)
    wall = time.perf_counter() - started
    after = metrics(server.root)
    if code != 0:
        raise SystemExit(f"eval exited {code}: {summary}")
    row = summary["results"][0]
    used = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    evaluated, cached = used["prompt_tokens_total"], used.get("prompt_tokens_cached_total", 0.0)
    generated = used["tokens_predicted_total"]
    bound = evaluated / raw["prompt_tok_s"] + generated / raw["gen_tok_s"]
    items, calls = row["items"], max(1, row["calls"])
    drafted, accepted = used.get("spec_decode_num_draft_tokens_total", 0), used.get(
        "spec_decode_num_accepted_tokens_total", 0)
    return {
        "tuning": server.tuning, "slots": server.parallel, "raw": raw, "load_average_before": load_before,
        "items": items, "calls": row["calls"], "crew_s": row["seconds"], "eval_wall_s": round(wall, 1),
        "s_per_item": round(row["seconds"] / items, 2),
        "correct_records": row["correct_records"],
        "s_per_correct_record": row["seconds_per_correct_record"],
        "fields": {name: f["accuracy"] for name, f in row["fields"].items()},
        "prompt_tokens_sent_per_call": round(row["prompt_tokens"] / calls),
        "prompt_tokens_evaluated_per_call": round(evaluated / calls),
        "prompt_tokens_cached_per_call": round(cached / calls),
        "generated_tokens_per_item": round(generated / items),
        "speculative_accepted": f"{int(accepted)}/{int(drafted)}" if drafted else None,
        "model_prompt_s": round(used["prompt_seconds_total"], 1),
        "model_gen_s": round(used["tokens_predicted_seconds_total"], 1),
        "lower_bound_s": round(bound, 1), "crew_over_bound": round(row["seconds"] / bound, 2),
        "load_average_after": load_average(),
    }


def busy_processes(n: int) -> list[subprocess.Popen[bytes]]:
    """N CPU-bound processes: what a browser, an IDE or another job does to the crew."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(n)]


def show(name: str, result: dict[str, Any]) -> None:
    print(f"{name}:")
    for key, value in result.items():
        print(f"  {key:34s} {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10, help="labelled items to run (first N)")
    parser.add_argument("--labels", help="labels CSV (default: the crew's own)")
    parser.add_argument("--busy", default="", help="also run beside N CPU-bound processes (e.g. 1, or 1,2)")
    parser.add_argument("--no-idle", action="store_true", help="skip the idle pass")
    parser.add_argument("--tag", default="", help="suffix for bench/results/speed<tag>.json")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="etlcrew-speed-"))
    set_env(make_project(base), base / "state", base / "output")
    os.environ.setdefault("ETLCREW_MODEL_CACHE", str(ROOT / ".etlcrew" / "models"))
    from etlcrew.settings import load_settings

    settings = load_settings(load_dotenv_file=False)
    result: dict[str, Any] = {"cores": len(os.sched_getaffinity(0)), "limit": args.limit}
    if not args.no_idle:
        result["idle"] = one_pass(settings, args.limit, args.labels)
        show("idle", result["idle"])
    for count in [int(n) for n in args.busy.split(",") if n.strip()]:
        procs = busy_processes(count)
        try:
            time.sleep(2)
            result[f"busy_{count}"] = one_pass(settings, args.limit, args.labels)
        finally:
            for proc in procs:
                proc.kill()
        show(f"beside {count} busy process(es)", result[f"busy_{count}"])
        if "idle" in result:
            ratio = result[f"busy_{count}"]["crew_s"] / result["idle"]["crew_s"]
            result[f"busy_{count}_slowdown"] = round(ratio, 2)
            print(f"slowdown beside {count} busy process(es): {ratio:.2f}x the idle time (same invocation)")
    print("crew_over_bound = the crew's seconds / what raw llama.cpp needs for the tokens it computed")
    print(f"wrote {write_results('speed' + args.tag, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
