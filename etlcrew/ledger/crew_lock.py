"""One run per crew at a time: an OS file lock taken before the first model call or ledger write.

Two runs of one crew would race for the same targets (DuckDB allows one writer) after both spent their model
calls. The lock is ``filelock``'s on ``<state_dir>/locks/<crew>.lock`` (``flock`` on POSIX, ``LockFileEx`` on
Windows): the operating system releases it when the holder dies, even by SIGKILL, so a killed run never wedges its
crew. A second file, ``<crew>.holder``, names the holder (run id, process), which is what the second run's message
shows; it is only informative, the lock is the OS lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from etlcrew.errors import CrewBusy


def lock_path(state_dir: Path, crew: str) -> Path:
    """A file name safe for any crew name (slug plus a hash, so two names never share a lock)."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", crew)[:40]
    return state_dir / "locks" / f"{slug}-{hashlib.sha256(crew.encode()).hexdigest()[:8]}.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("run_id"):
        return "another run"
    return f"run {info['run_id']} (process {info.get('pid', '?')}, since {info.get('since', '?')})"


@contextlib.contextmanager
def crew_lock(state_dir: Path, crew: str, run_id: str) -> Iterator[None]:
    """Hold the crew for this run, or raise ``CrewBusy`` at once naming the run that holds it."""
    path = lock_path(state_dir, crew)
    holder = path.with_suffix(".holder")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise CrewBusy(f"crew '{crew}' is busy: {_holder(holder)} is running it",
                       hint="wait for it to finish (or stop it with Ctrl-C) and run again; this run started "
                            "nothing and made no model call") from None
    try:
        since = dt.datetime.now().astimezone().replace(microsecond=0).isoformat()
        holder.write_text(json.dumps({"run_id": run_id, "pid": os.getpid(), "since": since}), encoding="utf-8")
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                holder.write_text("{}", encoding="utf-8")  # released: the file says nobody holds it
    finally:
        lock.release()
