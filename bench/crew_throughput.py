"""The default crew on the embedded model: how much of llama.cpp's raw throughput a crew run keeps.

1. Raw: llama.cpp's own ``timings`` for one request with a ~1,000-token prompt and 128 generated tokens on the
   in-process server (prompt cache off) give prompt and generation tokens/s.
2. Crew: ``support_inbox`` on N inbox items (a temp project, default 8 = one batch), through the CLI in-process
   with the embedded model; the run summary gives the prompt and completion tokens it used.
3. Efficiency = (prompt_tokens / raw_prompt_tok_s + completion_tokens / raw_gen_tok_s) / crew wall time: the
   share of the run's wall clock that raw llama.cpp would need for the same tokens. Target (issue 3): >= 60%.
Also printed: prompt tokens per processed item. Needs the weights (`python main.py models pull`); offline.

    python bench/crew_throughput.py [--items 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _datapath_common import load_average, write_results  # noqa: E402


def raw_rates(url: str) -> tuple[float, float]:
    prompt = "Summarise these support notes. " + " ".join(
        p.read_text(errors="replace")[:600] for p in sorted((ROOT / "data/inbox").iterdir())[:6])
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 128, "temperature": 0,
            "cache_prompt": False, "ignore_eos": True}
    request = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        timings = json.loads(response.read())["timings"]
    return float(timings["prompt_per_second"]), float(timings["predicted_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="etlcrew-bench-"))
    shutil.copytree(ROOT / "config", work / "config")
    (work / "data/inbox").mkdir(parents=True)
    shutil.copytree(ROOT / "data/reference", work / "data/reference")
    for path in sorted((ROOT / "data/inbox").iterdir())[: args.items]:
        shutil.copy(path, work / "data/inbox" / path.name)
    os.environ.update(ETLCREW_PROJECT_DIR=str(work), ETLCREW_HOME=str(work / ".etlcrew"),
                      ETLCREW_OUTPUT_DIR=str(work / "output"))
    os.environ.setdefault("ETLCREW_MODEL_CACHE", str(ROOT / ".etlcrew" / "models"))

    from etlcrew.cli import main as cli
    from etlcrew.model_runtime.catalogue import default_entry
    from etlcrew.model_runtime.server import start_server
    from etlcrew.model_runtime.weights import ensure_weights
    from etlcrew.settings import load_settings

    settings = load_settings()
    entry = default_entry()
    server = start_server(ensure_weights(entry, settings.model_cache_dir), alias=entry.name, parallel=2,
                          ctx_per_slot=4096)  # the same server the run will reuse
    prompt_rate, gen_rate = raw_rates(server.url)
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = cli(["run", "--json", "--quiet", "--full-refresh"])
    wall = time.perf_counter() - started
    summary = json.loads(out.getvalue())
    llm, items = summary["llm"], summary["items"]
    raw_seconds = llm["prompt_tokens"] / prompt_rate + llm["completion_tokens"] / gen_rate
    result = {
        "items": items, "exit_code": code, "wall_s": round(wall, 1), "calls": llm["calls"],
        "prompt_tokens": llm["prompt_tokens"], "completion_tokens": llm["completion_tokens"],
        "prompt_tokens_per_item": round(llm["prompt_tokens"] / max(1, items["extracted"]), 1),
        "raw_prompt_tok_s": round(prompt_rate, 1), "raw_gen_tok_s": round(gen_rate, 1),
        "raw_seconds_for_same_tokens": round(raw_seconds, 1), "efficiency": round(raw_seconds / wall, 3),
        "load_average": load_average(),
    }
    print(f"default crew on the embedded model, {items['extracted']} items (one process, 2 slots, "
          f"{server.threads} llama.cpp thread(s)):")
    for key, value in result.items():
        print(f"  {key:28s} {value}")
    print("efficiency = raw llama.cpp time for the run's tokens / the run's wall time (target >= 0.60)")
    print(f"wrote {write_results('crew_throughput', result)}")


if __name__ == "__main__":
    main()
