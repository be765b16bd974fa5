"""Count model calls and tokens from CrewAI's event bus, once per call.

CrewAI's ``usage_metrics`` sums each LLM instance per agent, so an instance shared by agents is counted twice;
the completed-call events are counted exactly once each. Providers that report usage give exact counts; the
scripted model estimates. Cost comes from a per-model price table (0 for local models).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# (model, prompt_tokens, completion_tokens, latency_ms or None, error or None): the ledger records every call
CallRecorder = Callable[[str, int, int, float | None, str | None], None]

# USD per million tokens (prompt, completion); local and scripted models cost nothing.
PRICES: dict[str, tuple[float, float]] = {
    "openai/gpt-4o-mini": (0.15, 0.60),
    "openai/gpt-4o": (2.50, 10.00),
    "anthropic/claude-3-5-haiku-latest": (0.80, 4.00),
}


@dataclass
class Usage:
    """Totals for one run."""

    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    by_model: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost_usd": round(self.cost_usd, 6)}


class UsageMeter:
    """Listens to LLM call events while active (``with UsageMeter() as meter``)."""

    def __init__(self, record: CallRecorder | None = None) -> None:
        self.usage = Usage()
        self._lock = threading.Lock()
        self._record = record
        self._started: dict[str, float] = {}

    def _started_call(self, source: Any, event: Any) -> None:
        with self._lock:
            self._started[str(event.call_id)] = time.monotonic()

    def _latency_ms(self, event: Any) -> float | None:
        with self._lock:
            began = self._started.pop(str(getattr(event, "call_id", "")), None)
        return None if began is None else round((time.monotonic() - began) * 1000, 1)

    def _completed(self, source: Any, event: Any) -> None:
        usage = event.usage or {}
        prompt = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
        completion = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
        model = str(event.model or "")
        price = PRICES.get(model, (0.0, 0.0))
        with self._lock:
            u = self.usage
            u.calls += 1
            u.prompt_tokens += prompt
            u.completion_tokens += completion
            u.cost_usd += (prompt * price[0] + completion * price[1]) / 1_000_000
            u.by_model.setdefault(model, [0, 0, 0])
            counts = u.by_model[model]
            counts[0] += 1
            counts[1] += prompt
            counts[2] += completion
        if self._record:
            self._record(model, prompt, completion, self._latency_ms(event), None)

    def _failed(self, source: Any, event: Any) -> None:
        from etlcrew import console

        with self._lock:
            self.usage.failed_calls += 1
        error = " ".join(str(getattr(event, "error", "") or "unknown error").split())
        console.warn(f"model call failed ({event.model}): {error[:300]}")
        if self._record:
            self._record(str(event.model or ""), 0, 0, self._latency_ms(event), error[:2000])

    def __enter__(self) -> UsageMeter:
        from crewai.events.event_bus import crewai_event_bus
        from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallFailedEvent, LLMCallStartedEvent

        crewai_event_bus.on(LLMCallStartedEvent)(self._started_call)
        crewai_event_bus.on(LLMCallCompletedEvent)(self._completed)
        crewai_event_bus.on(LLMCallFailedEvent)(self._failed)
        return self

    def __exit__(self, *exc: object) -> None:
        from crewai.events.event_bus import crewai_event_bus
        from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallFailedEvent, LLMCallStartedEvent

        crewai_event_bus.flush()
        crewai_event_bus.off(LLMCallStartedEvent, self._started_call)
        crewai_event_bus.off(LLMCallCompletedEvent, self._completed)
        crewai_event_bus.off(LLMCallFailedEvent, self._failed)
