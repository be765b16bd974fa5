"""How the embedded llama.cpp uses the CPU: threads, polling and speculative decoding, each from a variable.

One home for these settings so ``server.start_server`` stays about starting a server, and so ``validate`` can
check the variables before a run spends anything (``env_problems``). The defaults were chosen by measurement
with ``bench/speed.py`` on the 2-core machine (README, Performance):

- ``ETLCREW_MODEL_THREADS``: llama.cpp threads (default: every core for a model over 500 MB, one fewer for a
  small one; and one generation thread fewer per core that other work keeps busy when the server starts, a 0.5 s
  probe of /proc/stat: ``choose_threads``).
- ``ETLCREW_MODEL_POLL``: how long (0-100) llama.cpp's threads spin waiting for each other before they sleep.
  Default 50, llama.cpp's own: 0 measured within 2% of it here, idle and beside busy processes.
- ``ETLCREW_MODEL_SPECULATIVE``: ``off`` (default), ``ngram`` (draft tokens looked up in the context) or
  ``draft`` (Qwen2.5-Coder-0.5B drafts, if its weights are pulled). Both made generation slower on 2 CPU cores,
  where checking k drafted tokens costs nearly k steps; they are for machines where they may pay.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

THREADS_ENV = "ETLCREW_MODEL_THREADS"
POLL_ENV = "ETLCREW_MODEL_POLL"
SPECULATIVE_ENV = "ETLCREW_MODEL_SPECULATIVE"
BIG_MODEL_BYTES = 500_000_000
DEFAULT_POLL = 50  # llama.cpp's own; 0 measured the same here, idle and busy (README, Performance)
SPECULATIVE_KINDS = ("off", "ngram", "draft")
DEFAULT_SPECULATIVE = "off"
DRAFT_MODEL = "qwen2.5-coder-0.5b"
BUSY_THRESHOLD = 0.5  # cores busy with other work before a generation thread is given up


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def threads_for(model_bytes: int) -> int:
    """llama.cpp threads: ``ETLCREW_MODEL_THREADS`` if set; else every core for a model over 500 MB, one core
    fewer for a small one.

    A small model is fast enough that its threads mostly spin at llama.cpp's barrier, where a core stolen by
    CrewAI stalls each step (SmolLM2 on 2 busy cores: 1 thread ~55 tok/s steady, 2 threads 1-98 tok/s). A 1.5B
    model is bound by compute: on 2 cores the default crew's eval ran 10 items in 266 s with 2 threads and had
    not finished after 300 s with 1.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return cores() if model_bytes > BIG_MODEL_BYTES else max(1, cores() - 1)


def busy_cores(window_s: float = 0.5) -> float:
    """How many cores other processes keep busy right now: /proc/stat's non-idle time over ``window_s``, less this
    process's own CPU time (its threads may be importing or parsing meanwhile). 0.0 where /proc/stat is absent."""
    def sample() -> tuple[int, int, float]:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(n) for n in stat.readline().split()[1:]]
        mine = os.times()
        return sum(ticks[:8]), ticks[3] + ticks[4], mine.user + mine.system  # all but guest; idle + iowait

    try:
        total0, idle0, self0 = sample()
        time.sleep(window_s)
        total1, idle1, self1 = sample()
        hertz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0
    spent = total1 - total0
    if spent <= 0:
        return 0.0
    window = spent / hertz / cores_on_machine()  # wall seconds the ticks cover
    others = (spent - (idle1 - idle0)) / hertz - (self1 - self0)
    return max(0.0, others / window)


def cores_on_machine() -> int:
    """All the machine's cores (/proc/stat counts them all, whatever this process's affinity)."""
    return os.cpu_count() or 1


def poll() -> int:
    """llama.cpp's busy-wait level, 0 (sleep at once) to 100."""
    value = os.environ.get(POLL_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) <= 100 else DEFAULT_POLL


def speculative() -> str:
    """``off``, ``ngram`` or ``draft``."""
    value = os.environ.get(SPECULATIVE_ENV, "").strip().lower()
    return value if value in SPECULATIVE_KINDS else DEFAULT_SPECULATIVE


def env_problems() -> list[tuple[str, str, str]]:
    """(variable, problem, fix) for each tuning variable set to a value this module would ignore."""
    problems = []
    threads = os.environ.get(THREADS_ENV, "").strip()
    if threads and not (threads.isdigit() and int(threads) > 0):
        problems.append((THREADS_ENV, f"'{threads}' is not a whole number of threads",
                         f"set {THREADS_ENV}=2 (at most the cores: {cores()}) or unset it"))
    level = os.environ.get(POLL_ENV, "").strip()
    if level and not (level.isdigit() and int(level) <= 100):
        problems.append((POLL_ENV, f"'{level}' is not a level from 0 to 100", f"set {POLL_ENV}=0 or unset it"))
    kind = os.environ.get(SPECULATIVE_ENV, "").strip().lower()
    if kind and kind not in SPECULATIVE_KINDS:
        problems.append((SPECULATIVE_ENV, f"'{kind}' is not one of {', '.join(SPECULATIVE_KINDS)}",
                         f"set {SPECULATIVE_ENV}=off or unset it"))
    return problems


def choose_threads(model_bytes: int, threads: int | None) -> dict[str, Any]:
    """Generation and prompt threads: ``threads`` or ``ETLCREW_MODEL_THREADS`` for both when given; else
    ``threads_for``, with one generation thread fewer per core that other work keeps busy at start-up.

    Generating a token syncs every thread at each step, so a thread that another process descheduled stalls the
    others; a prompt is one large batch, where a second thread still pays (README, Performance: beside one
    CPU-bound process, 1 generation thread made 5.6 tok/s where 2 made 3.2).
    """
    explicit = threads or (threads_for(model_bytes) if os.environ.get(THREADS_ENV, "").strip() else None)
    if explicit:
        return {"threads": explicit, "batch_threads": explicit, "busy_cores": None}
    count = threads_for(model_bytes)
    if count <= 1:
        return {"threads": 1, "batch_threads": 1, "busy_cores": None}  # no thread to give up: no probe
    busy = busy_cores()
    generation = max(1, count - round(busy)) if busy >= BUSY_THRESHOLD else count
    return {"threads": generation, "batch_threads": count, "busy_cores": round(busy, 2)}


def apply(params: Any, model_bytes: int, threads: int | None, draft_path: Path | None) -> dict[str, Any]:
    """Set threads, polling and speculative decoding on xllamacpp's ``CommonParams``; what was set, for logs."""
    import xllamacpp

    chosen = choose_threads(model_bytes, threads)
    params.cpuparams.n_threads = chosen["threads"]
    params.cpuparams_batch.n_threads = chosen["batch_threads"]
    params.cpuparams.poll = params.cpuparams_batch.poll = poll()
    kind = speculative()
    spec = params.speculative
    if kind == "ngram":
        spec.types = [xllamacpp.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
    elif kind == "draft" and draft_path is not None:
        spec.types = [xllamacpp.common_speculative_type.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        spec.draft.mparams.path = str(draft_path)
        spec.draft.cpuparams.n_threads = chosen["threads"]
        spec.draft.cpuparams_batch.n_threads = chosen["batch_threads"]
        spec.draft.cpuparams.poll = spec.draft.cpuparams_batch.poll = params.cpuparams.poll
    else:
        kind = "off"
    return {**chosen, "poll": params.cpuparams.poll, "speculative": kind}
