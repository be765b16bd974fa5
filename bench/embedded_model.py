"""Benchmark the embedded SmolLM2-135M: raw llama.cpp throughput vs. the same model through CrewAI's LLM.call.

Raw: POST /v1/chat/completions straight to the in-process server (prompt cache off, ``ignore_eos`` so every
request generates exactly MAX_TOKENS) and read llama.cpp's own ``timings`` (prompt and generation tok/s).
Also two concurrent requests on the two slots (aggregate generated tokens / wall time).
CrewAI: ``LLM.call`` on the same server; tokens from CrewAI's usage counters, time is the wall clock of the
call, so it includes HTTP and CrewAI overhead (the repeated prompt comes from llama.cpp's prompt cache).
Needs the weights (`models pull`); offline. Threads default to cores - 1 (see etlcrew/model_runtime/server.py).

    /work/venv/bin/python bench/embedded_model.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _datapath_common import load_average, write_results  # noqa: E402

from etlcrew.crewai_env import import_crewai  # noqa: E402
from etlcrew.model_runtime.catalogue import default_entry  # noqa: E402
from etlcrew.model_runtime.server import start_server, stop_all  # noqa: E402
from etlcrew.model_runtime.weights import ensure_weights  # noqa: E402
from etlcrew.settings import load_settings  # noqa: E402

MAX_TOKENS = 128
PROMPT = ("You are a data clerk. Summarise this support message in one paragraph and then list every product "
          "it mentions. Message: 'Hello, I ordered a blue kettle (order 4411) and a set of four mugs on the "
          "3rd. The kettle arrived with a cracked lid and the mugs never came. I was charged twice for "
          "shipping. Could you refund the shipping and send the mugs, or cancel them if they are out of "
          "stock? Thanks, Dana.'")


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def raw_request(base: str) -> dict[str, Any]:
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS, "temperature": 0,
            "cache_prompt": False, "ignore_eos": True}
    started = time.perf_counter()
    timings = post(base + "/chat/completions", body)["timings"]
    return timings | {"wall_s": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: cores - 1)")
    args = parser.parse_args()
    settings = load_settings()
    entry = default_entry()
    started = time.perf_counter()
    server = start_server(ensure_weights(entry, settings.model_cache_dir), alias=entry.name, parallel=2,
                          threads=args.threads)
    startup_s = time.perf_counter() - started
    raw_request(server.url)  # warm-up

    raw = [raw_request(server.url) for _ in range(args.repeats)]
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        pair = list(pool.map(lambda _: raw_request(server.url), range(2)))
    pair_s = time.perf_counter() - started

    crewai = import_crewai(settings.state_dir)
    llm = crewai.LLM(model=f"openai/{entry.name}", base_url=server.url, api_key="sk-local", temperature=0,
                     max_tokens=MAX_TOKENS)
    llm.call([{"role": "user", "content": PROMPT}])  # warm-up (first-call setup inside CrewAI)
    crew_runs = []
    for _ in range(args.repeats):
        before = dict(llm._token_usage)
        started = time.perf_counter()
        llm.call([{"role": "user", "content": PROMPT}])
        elapsed = time.perf_counter() - started
        crew_runs.append({"completion_tokens": llm._token_usage["completion_tokens"] - before["completion_tokens"],
                          "prompt_tokens": llm._token_usage["prompt_tokens"] - before["prompt_tokens"],
                          "wall_s": elapsed})
    stop_all()

    med = statistics.median
    results = {
        "model": entry.name, "file": entry.file, "threads": server.threads,
        "load_average_before": load_average(), "slots": 2, "max_tokens": MAX_TOKENS,
        "server_startup_s": round(startup_s, 3),
        "raw": {
            "prompt_tokens": raw[0]["prompt_n"],
            "prompt_tok_s": round(med(r["prompt_per_second"] for r in raw), 1),
            "gen_tok_s": round(med(r["predicted_per_second"] for r in raw), 1),
            "wall_s": round(med(r["wall_s"] for r in raw), 3),
        },
        "raw_two_concurrent": {
            "gen_tok_s_aggregate": round(sum(r["predicted_n"] for r in pair) / pair_s, 1),
            "gen_tok_s_per_request": round(med(r["predicted_per_second"] for r in pair), 1),
            "wall_s": round(pair_s, 3),
        },
        "crewai_llm_call": {
            "prompt_tokens": crew_runs[0]["prompt_tokens"],
            "completion_tokens": round(med(r["completion_tokens"] for r in crew_runs)),
            "completion_tok_s_end_to_end": round(med(r["completion_tokens"] / r["wall_s"] for r in crew_runs), 1),
            "wall_s": round(med(r["wall_s"] for r in crew_runs), 3),
        },
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
        "repeats": args.repeats,
    }
    out = write_results("embedded_model", results)

    rows = [
        ("raw llama.cpp, prompt processing", f"{results['raw']['prompt_tok_s']} tok/s",
         f"{results['raw']['prompt_tokens']} prompt tokens"),
        ("raw llama.cpp, generation", f"{results['raw']['gen_tok_s']} tok/s", f"{MAX_TOKENS} tokens, 1 request"),
        ("raw, 2 concurrent (aggregate)", f"{results['raw_two_concurrent']['gen_tok_s_aggregate']} tok/s",
         f"per request {results['raw_two_concurrent']['gen_tok_s_per_request']} tok/s"),
        ("CrewAI LLM.call end to end", f"{results['crewai_llm_call']['completion_tok_s_end_to_end']} tok/s",
         f"{results['crewai_llm_call']['completion_tokens']} tokens in {results['crewai_llm_call']['wall_s']} s"),
    ]
    print(f"{entry.name} ({entry.file}), {results['threads']} threads, server start {startup_s:.2f} s, "
          f"median of {args.repeats}, load average before {os.getloadavg()[0]:.2f}")
    for name, value, note in rows:
        print(f"  {name:<34} {value:>12}   {note}")
    print(f"method: {results['method']}")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
