"""Named crash points for the durability tests: ``ETLCREW_FAILPOINT=name[:n]`` SIGKILLs the process at the n-th
time (default the first) the run passes ``name``.

The crash tests need to die at exact places (between two phases, after the targets were written but before the
ledger knows, between two webhooks); a timer cannot hit those reliably. Unset, a check costs one dict lookup.

Points: ``phase:<extract|transform|load>`` (a batch's phase output is committed), ``batch-done`` (its outcome is
committed, not yet loaded), ``mid-load`` (the targets hold the rows, the ledger does not know yet), ``landed``
(the ledger knows), ``webhook`` (one delivery is recorded, others may follow), ``finish`` (before the run is
marked finished).
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "ETLCREW_FAILPOINT"
_hits: dict[str, int] = {}
_lock = threading.Lock()


def hit(name: str) -> None:
    """Die here (SIGKILL: no cleanup, no flush) when ``ETLCREW_FAILPOINT`` names this point and count."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    wanted, _, count = spec.partition(":") if not spec.startswith("phase:") else _split_phase(spec)
    if wanted != name:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        reached = _hits[name] == int(count or 1)
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)


def _split_phase(spec: str) -> tuple[str, str, str]:
    """``phase:transform:2`` -> (``phase:transform``, ``:``, ``2``)."""
    head, _, rest = spec.partition(":")
    phase, sep, count = rest.partition(":")
    return f"{head}:{phase}", sep, count
