"""When a run must stop early: its budget is spent, the user pressed Ctrl-C, or the process got SIGTERM.

All stop the same way: no new batch starts, the batches in flight finish (on Ctrl-C or SIGTERM, the model call
under way finishes and no new one starts), what finished is loaded and committed, and the run can be resumed. A
second signal stops at once; the ledger still holds every committed phase. SIGTERM is what ``kill``, systemd,
Docker and CI send: it is handled like Ctrl-C, and the run ends with exit 143 (128 + 15) instead of 130.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """Per-run limits; ``None`` is unlimited. Counts include what a resumed run spent before."""

    max_llm_calls: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None


class RunControl:
    """Shared by the run's threads: the stop flag and the budget check."""

    def __init__(self, budget: Budget, usage: Callable[[], tuple[int, int]], spent_before: tuple[int, int, float]
                 = (0, 0, 0.0), clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._usage = usage  # () -> (calls, tokens) of this process
        self._before = spent_before  # (calls, tokens, seconds) of the run's earlier attempts
        self._clock = clock
        self._started = clock()
        self._stop = threading.Event()
        self.stop_reason: str | None = None
        self.signal_name: str | None = None  # "SIGINT" or "SIGTERM" when a signal asked the run to stop

    def request_stop(self, reason: str = "interrupted", signal_name: str | None = None) -> None:
        self.stop_reason = self.stop_reason or reason
        self.signal_name = self.signal_name or signal_name
        self._stop.set()

    def stop_requested(self) -> bool:
        """True after Ctrl-C: the retry layer starts no new model call."""
        return self._stop.is_set()

    def elapsed(self) -> float:
        return self._before[2] + (self._clock() - self._started)

    def budget_reached(self) -> str | None:
        """Which limit is reached, as a sentence for the summary, or None."""
        calls, tokens = self._usage()
        calls, tokens = calls + self._before[0], tokens + self._before[1]
        b = self.budget
        if b.max_llm_calls is not None and calls >= b.max_llm_calls:
            return f"max_llm_calls reached ({calls} >= {b.max_llm_calls})"
        if b.max_tokens is not None and tokens >= b.max_tokens:
            return f"max_tokens reached ({tokens} >= {b.max_tokens})"
        if b.max_seconds is not None and self.elapsed() >= b.max_seconds:
            return f"max_seconds reached ({self.elapsed():.0f} s >= {b.max_seconds:g} s)"
        return None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like ``KeyboardInterrupt`` so every path that handles Ctrl-C handles it (exit 143)."""


def raise_terminated(signum: int, frame: object) -> None:
    """A SIGTERM handler for outside a run: stop like Ctrl-C, not die silently."""
    raise Terminated()


@contextmanager
def stop_on_ctrl_c(control: RunControl, on_first: Callable[[str], None]) -> Iterator[None]:
    """The first Ctrl-C or SIGTERM asks the run to stop cleanly (``on_first`` gets the signal's name); a second one
    raises ``KeyboardInterrupt`` (``Terminated`` for SIGTERM) as usual.

    Only the main thread can own signal handlers; elsewhere (tests calling the runner from a thread) this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, raise_terminated)
        control.request_stop("interrupted", name)
        on_first(name)

    previous_int = signal.signal(signal.SIGINT, handler)
    previous_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
