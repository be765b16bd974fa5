"""Where profiled time goes: cProfile stats put into buckets by file (crewai, ledger, dlt, sources, ...).

Used by ``bench/orchestration_overhead.py``. A function in no bucket passes its own time to its callers' buckets,
in proportion to the time each caller spent in it; blocking waits are set apart. cProfile slows Python code more
than C code, so the shares are indicative.
"""

from __future__ import annotations

import cProfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# (bucket, substrings of the file path); the first match wins. Library code not listed here (pydantic, json,
# sqlite3, stdlib) is attributed to the buckets of its callers.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("scripted model", ("/model_runtime/scripted.py",)),
    ("ledger", ("/ledger/", "/pipeline/journal.py")),
    ("dlt load", ("/site-packages/dlt/", "/site-packages/duckdb", "/pipeline/targets/")),
    ("sources", ("/pipeline/sources/", "/pipeline/items.py")),
    ("validation", ("/pipeline/records.py", "/pipeline/batches.py")),  # incl. building the per-batch models
    ("events/trace", ("/observe/", "/model_runtime/usage.py")),
    ("retry layer", ("/model_runtime/resilience.py", "/model_runtime/retry.py")),
    ("crewai kickoff", ("/site-packages/crewai", "/site-packages/instructor", "/site-packages/litellm",
                        "/crews/builder.py", "/agents/builder.py", "/tasks/builder.py")),
    ("other", (str(ROOT) + "/",)),
]
WAITING = "waiting (blocked threads)"
UNATTRIBUTED = "unattributed"
# shared helpers that belong to whoever calls them (CrewAI's response_format, the scripted model, validation;
# the batching generator that pulls items from the sources)
INHERIT = {("/pipeline/records.py", "model_json_schema"), ("/pipeline/records.py", "flatten_json_schema"),
           ("/pipeline/records.py", "walk"), ("/pipeline/batches.py", "batched")}
WAIT_NAMES = ("acquire' of '_thread.", "time.sleep", "select.", "'poll' of", "'get' of '_queue.", "'wait' of")


# --------------------------------------------------------------------------------------------- the plain crew


class Snapshot:
    """A profiler's stats as pstats wants them, taken without disabling it (it may belong to another thread)."""

    def __init__(self, profiler: cProfile.Profile) -> None:
        profiler.snapshot_stats()
        self.stats = profiler.stats  # type: ignore[attr-defined]

    def create_stats(self) -> None:
        pass


def _bucket_of(func: tuple[str, int, str]) -> str | None:
    filename, _, name = func
    if "/bench/" in filename or any(filename.endswith(f) and name == n for f, n in INHERIT):
        return None  # the harness (run_cli, this file), shared helpers: their time goes to their callers
    if filename == "~" and any(w in name for w in WAIT_NAMES):
        return WAITING
    for bucket, patterns in BUCKETS:
        if any(p in filename for p in patterns):
            return bucket
    return None


def attribute(stats: dict[Any, Any]) -> dict[str, float]:
    """Own time per bucket; a function in no bucket passes its own time to its callers' buckets, in proportion
    to the cumulative time each caller spent in it (recursively, skipping callers already on the path, so
    recursion in library code is followed to the code that entered it). Time whose chain of callers ends
    without reaching a bucket (frames entered before the profile was cleared) is "unattributed"."""
    memo: dict[Any, dict[str, float]] = {}

    def shares(func: Any, path: frozenset[Any]) -> dict[str, float]:
        bucket = _bucket_of(func)
        if bucket:
            return {bucket: 1.0}
        if func in memo:
            return memo[func]
        out: dict[str, float] = {}
        total = 0.0
        for caller, timing in stats[func][4].items():
            if caller not in stats or caller in path or timing[3] <= 0:
                continue
            upstream = shares(caller, path | {func})
            if upstream:
                total += timing[3]
                for b, w in upstream.items():
                    out[b] = out.get(b, 0.0) + w * timing[3]
        out = {b: w / total for b, w in out.items()} if total > 0 else {}
        if out:
            memo[func] = out
        return out

    result: dict[str, float] = {}
    for func, (_, _, tt, _, _) in stats.items():
        for bucket, weight in (shares(func, frozenset()) or {UNATTRIBUTED: 1.0}).items():
            result[bucket] = result.get(bucket, 0.0) + tt * weight
    return result


def top_functions(stats: dict[Any, Any], wall: float, limit: int = 15, per_bucket: int = 3) -> list[dict[str, Any]]:
    """Functions of our buckets (not "other": the CLI and run glue) with the most cumulative time, at most
    ``per_bucket`` a bucket, each wrapper chain shown once: a function is left out when a caller in its bucket
    or in library code (already seen, so with more cumulative time) spent ≥ 80% of its own cumulative time in
    it."""
    covered: dict[Any, float] = {}
    picked: list[dict[str, Any]] = []
    for func, (_, nc, _, ct, callers) in sorted(stats.items(), key=lambda fv: -fv[1][3]):
        if ct < 0.01 * wall or len(picked) >= limit:
            break
        bucket = _bucket_of(func)
        wrapped = any(c in covered and ct >= 0.8 * covered[c] and _bucket_of(c) in (None, bucket) for c in callers)
        covered[func] = ct
        if wrapped or bucket in (None, WAITING, "other") or sum(p["bucket"] == bucket for p in picked) >= per_bucket:
            continue
        filename, line, name = func
        short = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        picked.append({"bucket": bucket, "function": f"{short}:{line}({name})", "calls": nc,
                       "cumulative_s": round(ct, 3)})
    return picked
