"""When a run must stop early: its budget is spent, the user pressed Ctrl-C, or the process got SIGTERM.

All stop the same way: no new model call starts, the calls under way finish, what finished is loaded and
committed, and the run can be resumed. A second signal stops at once; the ledger still holds every committed phase.
SIGTERM is what ``kill``, systemd, Docker and CI send: it is handled like Ctrl-C, and the run ends with exit 143
(128 + 15) instead of 130.

Budgets are exact: every model call (each attempt; a retry costs what the first try cost) is reserved before it
starts (``RunControl.reserve_call``), so ``max_llm_calls`` is never exceeded whatever the concurrency, batch size
or items per call. Tokens and seconds are known only after a call: the first call that crosses
``max_tokens``/``max_seconds`` finishes, and no new call starts after it. A resumed run counts what it spent
before: the limits are the run's total, and budget flags given to ``resume`` replace the stored ones.
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

    def limits(self) -> dict[str, float]:
        """The limits that are set, by flag name (for messages and the ledger)."""
        return {k: v for k, v in (("max_llm_calls", self.max_llm_calls), ("max_tokens", self.max_tokens),
                                  ("max_seconds", self.max_seconds)) if v is not None}


@dataclass(frozen=True)
class Spent:
    """What a run has spent so far: model calls (every attempt, a retry too), tokens and seconds."""

    calls: int = 0
    tokens: int = 0
    seconds: float = 0.0


class RunControl:
    """Shared by the run's threads: the stop flag and the budget, which every model call reserves from.

    ``reserve_call()`` is the one gate: the retry layer calls it before every attempt (``ResilientLLM``'s
    ``reserve`` hook, wired by ``ModelChooser``), and any other code about to call a model (the run's digest)
    calls it too. A call it refuses does not start; the first refusal names the limit (``budget_stop``) and stops
    the run: no new call starts, the calls in flight finish, what finished lands, the rest stays pending.
    """

    def __init__(self, budget: Budget, usage: Callable[[], tuple[int, int]], spent_before: tuple[int, int, float]
                 = (0, 0, 0.0), clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._usage = usage  # () -> (calls, tokens) of this process
        self._before = spent_before  # (calls, tokens, seconds) of the run's earlier attempts
        self._clock = clock
        self._started = clock()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reserved = spent_before[0]  # calls started so far, earlier attempts of the run included
        self.stop_reason: str | None = None
        self.budget_stop: str | None = None  # which limit stopped the run: max_llm_calls, max_tokens, max_seconds
        self.signal_name: str | None = None  # "SIGINT" or "SIGTERM" when a signal asked the run to stop

    def request_stop(self, reason: str = "interrupted", signal_name: str | None = None) -> None:
        self.stop_reason = self.stop_reason or reason
        self.signal_name = self.signal_name or signal_name
        self._stop.set()

    def stop_requested(self) -> bool:
        """True after Ctrl-C or once the budget is spent: the retry layer starts no new model call."""
        return self._stop.is_set()

    def elapsed(self) -> float:
        return self._before[2] + (self._clock() - self._started)

    def spent(self) -> Spent:
        """Calls started (reserved), tokens of the calls that finished, seconds: the run's total so far."""
        _, tokens = self._usage()
        return Spent(self._reserved, tokens + self._before[1], self.elapsed())

    def reserve_call(self) -> bool:
        """Reserve one model call before it starts; ``False``: it must not start (stopped, or over budget)."""
        with self._lock:
            if self._stop.is_set():
                return False
            reason = self._over(self.spent())
            if reason is not None:
                self.budget_stop = reason
                self.request_stop("budget")
                return False
            self._reserved += 1
            return True

    def count_remote(self, reserved: int, budget_stop: str | None = None) -> None:
        """Calls a Ray worker reserved from the run's gate (``pipeline.ray_budget``), and the limit that refused
        one there, if any: the run stops as if the refusal had happened here."""
        with self._lock:
            self._reserved += reserved
            if budget_stop is not None:
                self.budget_stop = self.budget_stop or budget_stop
        if budget_stop is not None:
            self.request_stop("budget")

    def budget_reached(self) -> str | None:
        """Which limit leaves no room for one more call (its flag name), or None (checked between batches)."""
        with self._lock:
            return self.budget_stop or self._over(self.spent())

    def _over(self, spent: Spent) -> str | None:
        """The first limit with no room left for another call (its flag name), or None."""
        b = self.budget
        if b.max_llm_calls is not None and spent.calls >= b.max_llm_calls:
            return "max_llm_calls"
        if b.max_tokens is not None and spent.tokens >= b.max_tokens:
            return "max_tokens"
        if b.max_seconds is not None and spent.seconds >= b.max_seconds:
            return "max_seconds"
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
