"""What the user sees while a run works: a live panel on a terminal, plain log lines otherwise.

Both are sinks of the run's ``EventHub``. On a terminal (stderr is a TTY) a rich ``Live`` panel shows the crew,
the phase and agent at work, batches and items done, model calls, tokens, elapsed time, ETA and quarantined
items. Piped or in CI, the same facts come as plain lines (no colours, control codes or emoji). ``--quiet`` and
``--json`` show neither; ``--verbose`` adds agent steps (tasks, tool calls with their arguments, truncated).
The total is known once the sources are read to the end; the ETA appears then.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from etlcrew import console
from etlcrew.observe.events import RunEvent


@dataclass
class RunProgress:
    """The facts both displays show, updated from events."""

    crew: str = ""
    started: float = field(default_factory=time.monotonic)
    total_items: int | None = None
    batches_started: int = 0
    batches_done: int = 0
    items_done: int = 0
    loaded: int = 0
    quarantined: int = 0
    review: int = 0
    skipped: int = 0
    calls: int = 0
    failed_calls: int = 0
    tokens: int = 0
    phase: str | None = None
    agent: str | None = None

    def update(self, event: RunEvent) -> None:
        detail = event.detail or {}
        kind = event.type
        if kind == "run_started":
            self.crew = detail.get("crew", "")
        elif kind == "items_total":
            self.total_items = detail["total"]
            self.skipped = detail.get("skipped", self.skipped)
        elif kind == "batch_started":
            self.batches_started += 1
        elif kind == "batch_done":
            self.batches_done += 1
        elif kind == "landed":
            self.loaded, self.quarantined = detail["loaded"], detail["quarantined"]
            self.review = detail.get("review", self.review)
            self.skipped = detail.get("skipped", self.skipped)
        elif kind == "llm_call":
            self.calls += 1
            self.tokens += (event.prompt_tokens or 0) + (event.completion_tokens or 0)
        elif kind == "llm_call_failed":
            self.failed_calls += 1
        elif kind in ("task_started", "agent_started"):
            self.phase = event.phase or self.phase
            self.agent = event.agent or self.agent
        self.items_done = self.loaded + self.review + self.quarantined + self.skipped

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left at the pace so far; None until the total is known and some items are done."""
        if not self.total_items or not self.items_done or self.items_done >= self.total_items:
            return None
        return self.elapsed() / self.items_done * (self.total_items - self.items_done)

    def line(self) -> str:
        total = f"/{self.total_items}" if self.total_items is not None else ""
        eta = self.eta()
        parts = [f"items {self.items_done}{total}", f"batches {self.batches_done}/{self.batches_started}",
                 f"calls {self.calls}", f"tokens {self.tokens:,}", f"review {self.review}",
                 f"quarantined {self.quarantined}",
                 f"{self.elapsed():.0f}s" + (f", ETA {eta:.0f}s" if eta is not None else "")]
        return "  ".join(parts)


class PlainLog:
    """Log lines for pipes and CI: batches, loads and (verbose) agent steps; nothing between them."""

    def __init__(self, verbose: bool = False) -> None:
        self.progress = RunProgress()
        self.verbose = verbose

    def __call__(self, event: RunEvent) -> None:
        self.progress.update(event)
        text = describe(event, self.progress, self.verbose)
        if text:
            console.info(text)

    def close(self) -> None:
        pass


class LiveDisplay:
    """A rich ``Live`` panel on stderr; agent steps (verbose) scroll above it."""

    def __init__(self, verbose: bool = False) -> None:
        from rich.live import Live

        self.progress = RunProgress()
        self.verbose = verbose
        self._lock = threading.Lock()
        self._live = Live(self._render(), console=console.err_console(), refresh_per_second=4, transient=True)
        self._live.start()

    def _render(self) -> Any:
        from rich.table import Table

        p = self.progress
        grid = Table.grid(padding=(0, 2))
        grid.add_row("[bold]crew[/]", p.crew or "-", "[bold]at work[/]",
                     f"{p.phase or '-'} ({p.agent or '-'})")
        total = f" / {p.total_items}" if p.total_items is not None else ""
        grid.add_row("[bold]items[/]", f"{p.items_done}{total} done", "[bold]batches[/]",
                     f"{p.batches_done} done, {p.batches_started - p.batches_done} running")
        grid.add_row("[bold]model[/]", f"{p.calls} calls, {p.tokens:,} tokens", "[bold]review / quarantined[/]",
                     f"{p.review} / {p.quarantined}")
        eta = p.eta()
        grid.add_row("[bold]elapsed[/]", f"{p.elapsed():.0f} s", "[bold]ETA[/]",
                     f"{eta:.0f} s" if eta is not None else "-")
        return grid

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            self.progress.update(event)
            if self.verbose:
                text = describe(event, self.progress, True, steps_only=True)
                if text:
                    from etlcrew.redact import redact

                    self._live.console.print(redact(text), markup=False, highlight=False)
            self._live.update(self._render())

    def close(self) -> None:
        with self._lock:
            self._live.stop()


def describe(event: RunEvent, progress: RunProgress, verbose: bool, steps_only: bool = False) -> str | None:
    """The plain line for an event, or None when it is not worth a line."""
    detail = event.detail or {}
    if not steps_only:
        if event.type == "batch_started":
            resumed = " (resumed)" if detail.get("resumed") else ""
            return f"batch {event.batch}: {detail.get('items')} items{resumed}"
        if event.type == "landed":
            return (f"  loaded {progress.loaded} records, {progress.review} held for review, {progress.quarantined} "
                    f"quarantined  ({progress.line()})")
        if event.type == "llm_call_failed":
            return f"  model call failed ({event.model}, attempt {event.attempt}): {event.error}"
    if not verbose:
        return None
    where = f"batch {event.batch} " if event.batch is not None else ""
    if event.type == "agent_started":
        return f"  {where}{event.phase or event.task}: {event.agent} at work"
    if event.type == "tool_started":
        return f"  {where}{event.agent} uses {event.tool} {event.arguments}"
    if event.type == "tool_error":
        return f"  {where}{event.tool} failed: {event.error}"
    if event.type == "task_completed":
        return f"  {where}{event.phase or event.task} done: {detail.get('output', '')[:100]}"
    return None


def make_display(verbose: bool) -> PlainLog | LiveDisplay | None:
    """The display this process should have: none when quiet or JSON, live on a terminal, else plain lines."""
    if console.is_quiet():
        return None
    if console.stderr_is_terminal():
        return LiveDisplay(verbose)
    return PlainLog(verbose)
