"""Named crash points, the one crash-injection mechanism: ``ETLCREW_FAILPOINT=name[:n][@marker]`` SIGKILLs the
process the n-th time (default the first) it passes ``name``.

The crash tests need to die at exact places (between two phases, after the targets were written but before the
ledger knows, between two webhooks, inside a Ray worker); a timer cannot hit those reliably. Unset, a check costs
one environment lookup.

``@marker`` (a file path) makes the crash happen once across processes: the first process to reach the point
creates the file and dies, every later one (a Ray worker that retries the batch, a resumed run) passes. Without
it, a retried Ray task would die again at the same point.

Points: ``phase:<extract|transform|load>`` (a batch's phase output is committed), ``batch-done`` (its outcome is
committed, not yet landed), ``mid-load`` (the targets hold the rows, the ledger does not know yet), ``landed``
(the ledger knows), ``outbox-enqueued`` (the action deliveries are enqueued, none sent), ``delivery-sent`` (a
webhook was posted or a notify line written, the ledger not told), ``webhook`` / ``notify`` (one delivery is
recorded, others may follow), ``finish`` (before the run is
marked finished), ``ray-worker-phase`` (a Ray worker finished a phase of its batch; the driver knows nothing),
``model-call`` (in the middle of a model call; hit by the crash tests' scripted model).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import NamedTuple

ENV = "ETLCREW_FAILPOINT"
_hits: dict[str, int] = {}
_lock = threading.Lock()


class Failpoint(NamedTuple):
    """A parsed ``ETLCREW_FAILPOINT`` value."""

    name: str
    count: int = 1
    marker: str | None = None


def parse(spec: str) -> Failpoint:
    """``phase:transform:2@/tmp/once`` -> Failpoint("phase:transform", 2, "/tmp/once")."""
    point, _, marker = spec.partition("@")
    head, _, rest = point.partition(":")
    if head == "phase":  # the name itself holds a colon
        phase, _, count = rest.partition(":")
        name = f"phase:{phase}"
    else:
        name, count = head, rest
    return Failpoint(name, int(count or 1), marker or None)


def current() -> str | None:
    """This process's failpoint setting, for a worker process that does not share this environment."""
    return os.environ.get(ENV) or None


def hit(name: str, spec: str | None = None) -> None:
    """Die here (SIGKILL: no cleanup, no flush) when the failpoint names this point and its count is reached.

    ``spec`` stands in for the environment where the setting travelled another way (a Ray worker gets the
    driver's with its job)."""
    spec = spec if spec is not None else os.environ.get(ENV)
    if not spec:
        return
    point = parse(spec)
    if point.name != name:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        reached = _hits[name] == point.count
    if reached and (point.marker is None or _first_across_processes(point.marker)):
        os.kill(os.getpid(), signal.SIGKILL)


def _first_across_processes(marker: str) -> bool:
    """Create ``marker``; False when another process already did (it died there before)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True
