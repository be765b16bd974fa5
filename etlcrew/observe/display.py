"""What the user sees while a run works: a live panel on a terminal, plain log lines otherwise.

Both are sinks of the run's ``EventHub``. On a terminal (stderr is a TTY) a rich ``Live`` panel shows the crew,
the phase and agent of each running batch, items done and through each phase, batches done/running/queued, model
calls, tokens, elapsed time, ETA, review and quarantined items (``observe.progress`` keeps the facts). Piped or
in CI, the same facts come as plain lines (no colours, control codes or emoji). ``--quiet`` and ``--json`` show
neither; ``--verbose`` adds agent steps (tasks, tool calls with their arguments), one line each.
"""

from __future__ import annotations

import threading
from typing import Any

from etlcrew import console
from etlcrew.observe.events import RunEvent
from etlcrew.observe.progress import RunProgress


class PlainLog:
    """Log lines for pipes and CI: batches, loads and (verbose) agent steps; nothing between them."""

    def __init__(self, verbose: bool = False) -> None:
        self.progress = RunProgress()
        self.verbose = verbose

    def __call__(self, event: RunEvent) -> None:
        self.progress.update(event)
        text = describe(event, self.progress, self.verbose)
        if text:
            if event.type in STEPS:
                console.step(text)
            else:
                console.info(text)

    def close(self) -> None:
        pass


class LiveDisplay:
    """A rich ``Live`` panel on stderr that owns the terminal while it runs.

    Everything else printed meanwhile (our warnings, agent steps, CrewAI's output through
    ``console.foreign_output``) goes through the same console, so rich draws it above the panel and redraws the
    panel below: no stale copy is left in the scrollback. The panel is built from ``Text``, never markup, so it
    looks the same whatever options the line printed above it used.
    """

    def __init__(self, verbose: bool = False) -> None:
        from rich.live import Live

        self.progress = RunProgress()
        self.verbose = verbose
        self._lock = threading.Lock()
        # stdout and stderr are already ours (console.foreign_output): rich's own redirect would bypass redaction
        self._live = Live(self._render(), console=console.err_console(), refresh_per_second=4, transient=True,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start(refresh=True)

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        p = self.progress
        total = f" / {p.total_items}" if p.total_items is not None else ""
        phases = ", ".join(f"{phase} {n}" for phase, n in p.items_per_phase()) or "-"
        eta = p.eta()
        rows = [("crew", p.crew or "-", "at work", p.at_work()),
                ("items", f"{p.items_done}{total} done", "through", phases),
                ("batches", f"{p.finished} done, {p.running} running, {p.queued} queued", "model",
                 f"{p.calls} calls, {p.tokens:,} tokens"),
                ("elapsed", f"{p.elapsed():.0f} s", "ETA", f"{eta:.0f} s" if eta is not None else "-"),
                ("review", str(p.review), "quarantined", str(p.quarantined))]
        grid = Table.grid(padding=(0, 2))
        for column in range(4):
            grid.add_column(no_wrap=True, overflow="ellipsis", max_width=None if column % 2 else 12)
        for label, value, label2, value2 in rows:
            grid.add_row(Text(label, style="bold"), Text(value), Text(label2, style="bold"), Text(value2))
        return grid

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            self.progress.update(event)
            if self.verbose:
                text = describe(event, self.progress, True, steps_only=True)
                if text:
                    console.step(text)
            self._live.update(self._render(), refresh=True)  # what prints above it redraws it as it is now

    def close(self) -> None:
        with self._lock:
            self._live.stop()


STEPS = ("agent_started", "tool_started", "tool_error", "task_completed")  # --verbose lines: one line each


def describe(event: RunEvent, progress: RunProgress, verbose: bool, steps_only: bool = False) -> str | None:
    """The plain line for an event, or None when it is not worth a line."""
    detail = event.detail or {}
    if not steps_only:
        if event.type == "batch_started":
            resumed = " (resumed)" if detail.get("resumed") else ""
            return f"batch {event.batch}: {detail.get('items')} items{resumed}"
        if event.type == "batch_done" and not detail.get("reused"):
            return (f"batch {event.batch} done: {detail.get('records', 0)} records, "
                    f"{detail.get('quarantined', 0)} quarantined  ({progress.line()})")
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
