"""The run's events: ours (batches, phases, loads) and CrewAI's (tasks, agents, model calls, tools), in one stream.

``EventHub`` fans each event out to its sinks (the display, the trace, OpenTelemetry when asked). Model calls
reach it from the usage meter, which also writes them to the ledger, so the trace's token totals are the ledger's
by construction. ``CrewaiBridge`` subscribes to CrewAI's task, agent and tool events while a run is active; CrewAI
runs handlers with a copy of the caller's context, so the batch number (``CURRENT_BATCH``) is known there too.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_TEXT = 500  # tool arguments, outputs and thoughts are truncated in events


@dataclass(frozen=True)
class RunEvent:
    """One line of the trace; fields that do not apply stay None and are left out of the JSON."""

    type: str
    run_id: str
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
    batch: int | None = None
    phase: str | None = None
    agent: str | None = None
    task: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None
    attempt: int | None = None
    tool: str | None = None
    arguments: str | None = None
    error: str | None = None
    detail: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


Sink = Callable[[RunEvent], None]


def _short(value: Any) -> str:
    """Redacted, then truncated: a secret cut in half would no longer look like one."""
    from etlcrew.redact import redact

    text = redact(value if isinstance(value, str) else repr(value))
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


class EventHub:
    """Thread-safe fan-out; a failing sink is dropped with a warning rather than breaking the run.

    Sinks get one event at a time, in the order emitted: batches and graph items emit from their own threads, and
    a sink that counts (``RunProgress``) while another thread's event adds a batch raised "dictionary changed
    size during iteration" (and was dropped). Re-entrant, so a sink may emit.
    """

    def __init__(self, run_id: str, phase_of_task: dict[str, str] | None = None) -> None:
        self.run_id = run_id
        self.phase_of_task = phase_of_task or {}
        self._sinks: list[Sink] = []
        self._lock = threading.Lock()
        self._delivering = threading.RLock()
        self.at_work: dict[int | None, tuple[str | None, str | None]] = {}  # batch -> (task, agent) under way

    def add(self, sink: Sink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def at_work_in(self, batch: int | None) -> tuple[str | None, str | None]:
        """The task and agent under way in ``batch``: CrewAI's converter calls the model without naming them."""
        return self.at_work.get(batch, (None, None))

    def emit(self, type_: str, **fields: Any) -> None:
        if type_ in ("task_started", "agent_started"):
            task, agent = self.at_work_in(fields.get("batch"))
            self.at_work[fields.get("batch")] = (fields.get("task") or task, fields.get("agent") or agent)
        task = fields.get("task")
        if task and "phase" not in fields:
            fields["phase"] = self.phase_of_task.get(task)
        event = RunEvent(type_, self.run_id, **fields)
        with self._delivering:
            with self._lock:
                sinks = list(self._sinks)
            for sink in sinks:
                self._deliver(sink, event)

    def _deliver(self, sink: Sink, event: RunEvent) -> None:
        try:
            sink(event)
        except Exception as exc:
            from etlcrew import console

            name = getattr(sink, "__name__", type(sink).__name__)
            console.warn(f"event sink {name} failed and was removed: {exc}")
            with self._lock:
                if sink in self._sinks:
                    self._sinks.remove(sink)


class CrewaiBridge:
    """CrewAI's task, agent and tool events into the hub, while active (``with CrewaiBridge(hub):``)."""

    def __init__(self, hub: EventHub) -> None:
        self.hub = hub
        self._handlers: list[tuple[type, Callable[..., None]]] = []

    def _batch(self) -> int | None:
        from etlcrew.run_context import CURRENT_BATCH

        return CURRENT_BATCH.get()

    def _task_started(self, source: Any, event: Any) -> None:
        self.hub.emit("task_started", batch=self._batch(), task=_task_name(event))

    def _task_completed(self, source: Any, event: Any) -> None:
        self.hub.emit("task_completed", batch=self._batch(), task=_task_name(event),
                      detail={"output": _short(getattr(event.output, "raw", ""))})

    def _agent_started(self, source: Any, event: Any) -> None:
        self.hub.emit("agent_started", batch=self._batch(), agent=getattr(event.agent, "role", None),
                      task=getattr(event.task, "name", None))

    def _tool(self, kind: str) -> Callable[[Any, Any], None]:
        def handle(source: Any, event: Any) -> None:
            detail = {"output": _short(event.output)} if kind == "tool_finished" else None
            error = _short(event.error) if kind == "tool_error" else None
            self.hub.emit(kind, batch=self._batch(), agent=event.agent_role, task=event.task_name,
                          tool=event.tool_name, arguments=_short(event.tool_args), error=error, detail=detail)
        return handle

    def __enter__(self) -> CrewaiBridge:
        from crewai.events.event_bus import crewai_event_bus
        from crewai.events.types.agent_events import AgentExecutionStartedEvent
        from crewai.events.types.task_events import TaskCompletedEvent, TaskStartedEvent
        from crewai.events.types.tool_usage_events import (
            ToolUsageErrorEvent,
            ToolUsageFinishedEvent,
            ToolUsageStartedEvent,
        )

        self._handlers = [
            (TaskStartedEvent, self._task_started), (TaskCompletedEvent, self._task_completed),
            (AgentExecutionStartedEvent, self._agent_started),
            (ToolUsageStartedEvent, self._tool("tool_started")), (ToolUsageFinishedEvent, self._tool("tool_finished")),
            (ToolUsageErrorEvent, self._tool("tool_error")),
        ]
        for event_type, handler in self._handlers:
            crewai_event_bus.on(event_type)(handler)
        return self

    def __exit__(self, *exc: object) -> None:
        from crewai.events.event_bus import crewai_event_bus

        crewai_event_bus.flush()
        for event_type, handler in self._handlers:
            crewai_event_bus.off(event_type, handler)


def _task_name(event: Any) -> str | None:
    task = getattr(event, "task", None)
    return getattr(task, "name", None) or getattr(event, "task_name", None)
