"""llama.cpp's OpenAI-compatible server, run in this process through xllamacpp (no binary, no subprocess).

One server per model file per process: CrewAI talks to it over loopback HTTP like to any OpenAI-compatible
endpoint, and its ``parallel`` slots let several agents generate at once (continuous batching). Servers stop
at interpreter exit or on ``stop_all()``. Start-up reads only the local file: it never touches the network.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etlcrew import console
from etlcrew.errors import ModelError
from etlcrew.invocation import command
from etlcrew.model_runtime import cpu_tuning

DEFAULT_PARALLEL = 2
REPEAT_PENALTY = 1.15
LOG_ENV = "ETLCREW_MODEL_LOG"


def log_verbosity() -> int:
    """llama.cpp's log threshold: 0 (default) prints nothing, 1 errors, 2 warnings, 3 every slot and timing.

    llama.cpp writes from C straight to file descriptor 2, past ``sys.stderr`` and our console, so only this
    threshold keeps ``--json`` and the live display clean; what a user needs (a load failure, a 400 reply)
    reaches them as our own error. Measured with SmolLM2: at 0 start-up, replies, 400s and a corrupt file print
    nothing (tests/model_runtime/test_server_log.py). Left: llama.cpp's grammar parser prints a malformed raw
    ``grammar`` field with ``fprintf``; CrewAI never sends one, and silencing fd 2 would silence the whole process.
    """
    value = os.environ.get(LOG_ENV, "").strip()
    return min(int(value), 4) if value.isdigit() else 0

DEFAULT_CTX_PER_SLOT = 4096  # a batch of 8 items with CrewAI's prompt and the schema fits
DEFAULT_MAX_TOKENS = 2048  # cap per reply: small models otherwise repeat themselves until the slot is full
HEALTH_TIMEOUT_S = 120.0

_lock = threading.Lock()
_servers: dict[Path, EmbeddedServer] = {}


@dataclass
class EmbeddedServer:
    """A running in-process llama.cpp server; ``url`` is the OpenAI base (``http://127.0.0.1:PORT/v1``)."""

    model_path: Path
    alias: str
    parallel: int
    ctx_per_slot: int
    threads: int
    root: str
    tuning: dict[str, Any] = field(default_factory=dict)  # cpu_tuning.apply: threads, batch_threads, busy_cores, ...
    _handle: Any = field(repr=False, default=None)

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL to give clients."""
        return self.root + "/v1"

    @property
    def running(self) -> bool:
        """Whether this server has not been stopped."""
        return self._handle is not None

    def get_json(self, path: str, timeout: float = 5.0) -> Any:
        """GET ``root + path`` and decode it (``/health``, ``/slots``, ``/props``)."""
        with urllib.request.urlopen(self.root + path, timeout=timeout) as response:  # noqa: S310 - loopback URL
            return json.loads(response.read())

    def stop(self) -> None:
        """Shut the server down (xllamacpp stops it when the handle is released)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            del handle


def _wait_healthy(server: EmbeddedServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if server.get_json("/health", timeout=2.0).get("status") == "ok":
                return
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(0.1)
    server.stop()
    raise ModelError(f"the embedded model server at {server.root} did not become healthy in {timeout:.0f} s ({last})")


def start_server(
    model_path: Path,
    *,
    alias: str | None = None,
    parallel: int = DEFAULT_PARALLEL,
    ctx_per_slot: int = DEFAULT_CTX_PER_SLOT,
    threads: int | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    health_timeout: float = HEALTH_TIMEOUT_S,
    repeat_penalty: float = REPEAT_PENALTY,
    draft_path: Path | None = None,
) -> EmbeddedServer:
    """The server for ``model_path``, started on a free 127.0.0.1 port on first use and reused after.

    A second call for the same file returns the running server even if ``parallel`` differs (one model
    copy in memory per process); call ``stop_all()`` first to restart with other settings.
    """
    key = Path(model_path).resolve()
    with _lock:
        existing = _servers.get(key)
        if existing is not None and existing.running:
            return existing
        if not key.is_file():
            raise ModelError(f"model file {key} does not exist", hint=f"run `{command('models', 'pull')}`")
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(key)
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free port; listening_address reports it
        params.offline = True
        params.verbosity = log_verbosity()
        params.n_parallel = max(1, parallel)
        params.n_ctx = ctx_per_slot * max(1, parallel)  # split evenly across the slots
        params.cont_batching = True
        params.n_predict = max_tokens  # used when a request sets no max_tokens (CrewAI sends none by default)
        params.use_jinja = True
        # greedy decoding loops on small models ("D-1000000..." until maxLength); a mild repeat penalty as the
        # server default (requests may override it) gave plausible findings at a third of the tokens. It also
        # flips repeated yes/no answers, so a catalogue model may set its own (catalogue.yaml, repeat_penalty)
        params.sampling.penalty_repeat = repeat_penalty
        params.endpoint_metrics = True  # /metrics: prompt tokens evaluated and cached, for bench/speed.py
        tuning = cpu_tuning.apply(params, key.stat().st_size, threads, draft_path)
        params.model_alias = {alias or key.stem}
        try:
            handle = xllamacpp.Server(params)
        except Exception as exc:  # xllamacpp raises plain RuntimeError on load failures
            hint = None if log_verbosity() else f"{LOG_ENV}=1 shows llama.cpp's own reason"
            raise ModelError(f"could not start llama.cpp on {key}: {exc}", hint=hint) from exc
        server = EmbeddedServer(key, alias or key.stem, params.n_parallel, ctx_per_slot,
                                params.cpuparams.n_threads, str(handle.listening_address).rstrip("/"), tuning, handle)
        _wait_healthy(server, health_timeout)
        _servers[key] = server
        console.info(f"embedded model {server.alias} serving at {server.url} "
                     f"({server.parallel} slots, {server.threads} threads, {tuning['batch_threads']} for prompts, "
                     f"poll {tuning['poll']}, speculative {tuning['speculative']})")
        return server


def running_servers() -> list[EmbeddedServer]:
    """The servers this process started and has not stopped."""
    return [s for s in _servers.values() if s.running]


def stop_all() -> None:
    """Stop every embedded server (also registered with ``atexit``)."""
    with _lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()


atexit.register(stop_all)
