"""Which llama.cpp settings make the crew's own model calls faster, idle and beside CPU-bound processes.

How: a short ``eval`` (``--items`` labelled e-mails) runs once through a recording proxy in front of the embedded
server, which keeps each transform request exactly as CrewAI sent it (messages, JSON schema, logprobs,
temperature 0). Then, for each setting, a fresh one-slot server replays those requests in order (the first cold,
the next ones reusing the shared prompt prefix, as in a run), optionally beside N processes that spin on a core.
Printed per setting: wall seconds, generated tokens and llama.cpp's generation tok/s, speculative drafts
accepted, and whether each reply equals the reply with the default settings. Offline; needs the weights.

Settings are ``name=value`` lists joined by ``+``: ``threads`` (generation), ``batch`` (prompt threads),
``poll``, ``spec`` (``off``, ``ngram``, ``ngram:N:M`` for n-gram size N and draft length M, ``draft``,
``draft:N`` for up to N drafted tokens; draft needs ``models pull qwen2.5-coder-0.5b``).

    python bench/speed_settings.py [--items 3] [--busy 0,1,2] [--settings "threads=2+batch=2,threads=1+batch=2"]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _datapath_common import load_average, make_project, run_cli, set_env, write_results  # noqa: E402

DEFAULT_SETTINGS = "threads=2+batch=2+poll=50,threads=2+batch=2+poll=0,threads=1+batch=1,threads=1+batch=2"


def capture(items: int) -> list[dict[str, Any]]:
    """The transform requests of ``eval --limit items``, recorded by a proxy the run's model URL points at."""
    from speed import start

    from etlcrew.settings import load_settings

    server = start(load_settings(load_dotenv_file=False))
    real, bodies = server.root, []

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            bodies.append(json.loads(body))
            request = urllib.request.Request(real + self.path, data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=900) as response:
                data = response.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    server.root = f"http://127.0.0.1:{proxy.server_address[1]}"  # the run's LLM is built on this URL
    code, summary = run_cli(["eval", "--limit", str(items)])
    proxy.shutdown()
    if code != 0:
        raise SystemExit(f"eval exited {code}: {summary}")
    return [b for b in bodies if '"records"' in json.dumps(b.get("response_format", {}))]


def parse(setting: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in setting.split("+") if part)


def configure(params: Any, setting: dict[str, str], draft: Path) -> None:
    """Apply one setting to xllamacpp's ``CommonParams`` (the same fields ``cpu_tuning.apply`` sets)."""
    import xllamacpp

    kinds = xllamacpp.common_speculative_type
    params.cpuparams.n_threads = int(setting.get("threads", "2"))
    params.cpuparams_batch.n_threads = int(setting.get("batch", setting.get("threads", "2")))
    params.cpuparams.poll = params.cpuparams_batch.poll = int(setting.get("poll", "50"))
    spec, *sizes = setting.get("spec", "off").split(":")
    if spec == "ngram":
        params.speculative.types = [kinds.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        if sizes:
            params.speculative.ngram_simple.size_n, params.speculative.ngram_simple.size_m = map(int, sizes[:2])
    elif spec == "draft":
        params.speculative.types = [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        params.speculative.draft.mparams.path = str(draft)
        params.speculative.draft.cpuparams.n_threads = params.cpuparams.n_threads
        params.speculative.draft.cpuparams_batch.n_threads = params.cpuparams_batch.n_threads
        if sizes:
            params.speculative.draft.n_max = int(sizes[0])


def replay(bodies: list[dict[str, Any]], setting: dict[str, str]) -> dict[str, Any]:
    """The requests in order on a fresh one-slot server with ``setting``: timings and replies."""
    import xllamacpp

    from etlcrew.model_runtime.catalogue import default_entry, find_entry
    from etlcrew.settings import load_settings

    cache = load_settings(load_dotenv_file=False).model_cache_dir
    entry = default_entry()
    params = xllamacpp.CommonParams()
    params.model.path = str(cache / entry.file)
    params.hostnames, params.port, params.offline, params.verbosity = ["127.0.0.1"], 0, True, 0
    params.n_parallel, params.n_ctx, params.use_jinja, params.endpoint_metrics = 1, 4096, True, True
    params.sampling.penalty_repeat = entry.repeat_penalty or 1.0
    configure(params, setting, cache / find_entry("qwen2.5-coder-0.5b").file)
    server = xllamacpp.Server(params)
    root = str(server.listening_address).rstrip("/")
    replies, generated, gen_ms, started = [], 0, 0.0, time.perf_counter()
    for body in bodies:
        request = urllib.request.Request(root + "/v1/chat/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=1800) as response:
            reply = json.loads(response.read())
        generated += reply["timings"]["predicted_n"]
        gen_ms += reply["timings"]["predicted_ms"]
        replies.append(reply["choices"][0]["message"]["content"])
    wall = time.perf_counter() - started
    with urllib.request.urlopen(root + "/metrics", timeout=30) as response:
        lines = response.read().decode().splitlines()
    counters = {line.split()[0]: float(line.split()[1]) for line in lines if line.startswith("llamacpp:spec_decode")}
    del server
    drafted = counters.get("llamacpp:spec_decode_num_draft_tokens_total", 0)
    accepted = counters.get("llamacpp:spec_decode_num_accepted_tokens_total", 0)
    return {"wall_s": round(wall, 1), "generated": generated, "gen_tok_s": round(generated / (gen_ms / 1000), 2),
            "drafts_accepted": f"{int(accepted)}/{int(drafted)}" if drafted else None, "replies": replies}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3, help="labelled e-mails whose transform calls are replayed")
    parser.add_argument("--busy", default="0", help="CPU-bound processes beside each replay, e.g. 0,1,2")
    parser.add_argument("--settings", default=DEFAULT_SETTINGS, help="comma-separated settings (see above)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="etlcrew-settings-"))
    set_env(make_project(base), base / "state", base / "output")
    os.environ.setdefault("ETLCREW_MODEL_CACHE", str(ROOT / ".etlcrew" / "models"))
    bodies = capture(args.items)
    from etlcrew.model_runtime.server import stop_all

    stop_all()
    rows, reference = [], None
    for busy in [int(n) for n in args.busy.split(",")]:
        for text in args.settings.split(","):
            spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
            try:
                result = replay(bodies, parse(text))
            finally:
                for spinner in spinners:
                    spinner.kill()
            replies = result.pop("replies")
            reference = reference or replies
            same = sum(a == b for a, b in zip(replies, reference, strict=True))
            rows.append({"busy": busy, "setting": text, **result, "same_replies": f"{same}/{len(replies)}",
                         "load_average": load_average()})
            print(json.dumps(rows[-1]), flush=True)
    print(f"{len(bodies)} transform calls replayed per setting; same_replies compares with the first setting's")
    print(f"wrote {write_results('speed_settings', {'calls': len(bodies), 'rows': rows})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
