"""A fault-injecting model: a test double that makes a fraction of calls fail the way real endpoints do.

Part of the product, like ``ScriptedLLM``, so users can check that their own crews survive a flaky model:

    faulty = FaultyLLM(ScriptedLLM(default=sample_answer), rate=0.3, seed=1)
    llm = ResilientLLM([("scripted", faulty)])     # give it to an Agent, kick off the crew, then:
    faulty.faults                                  # {"error": 4, "server": 2, ...} injected so far

With probability ``rate`` a call gets one fault from ``kinds`` instead of reaching the inner model (so a scripted
queue is only consumed by calls that get through); the choice is deterministic for a ``seed``. Raised faults emit
the started/failed events a real provider emits, so the ledger sees the failed attempt (no tokens); an
``"invalid"`` fault returns unparseable text and emits nothing, leaving the rejecting to the caller. Every fault
drawn reaches the caller: CrewAI's built-in 429 retry (real sleeps) is kept off this model.

Importing this module imports CrewAI: call ``etlcrew.crewai_env.prepare_crewai_environment`` first.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crewai.llms.base_llm import BaseLLM
from crewai.types.usage_metrics import UsageMetrics
from pydantic import BaseModel, PrivateAttr

from etlcrew.model_runtime.resilience import emit_failed_attempt, forward_call_overrides, owns_retries

FAULT_KINDS = ("error", "server", "rate_limit", "timeout", "invalid")
INVALID_ANSWER = '{"records": ['  # cut off mid-answer: neither JSON nor a final answer


@dataclass
class FakeResponse:
    """Just enough of an HTTP response for status and header lookups."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


class InjectedFault(Exception):
    """Base of every raised fault, so tests can tell injected failures from real ones."""

    kind = "fault"


class InjectedConnectionError(InjectedFault, ConnectionError):
    kind = "error"


class InjectedTimeout(InjectedFault, TimeoutError):
    kind = "timeout"


class InjectedHTTPError(InjectedFault):
    """An HTTP error status, shaped like the SDKs' errors (``status_code`` and ``response.headers``)."""

    def __init__(self, message: str, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = FakeResponse(status_code, headers or {})
        self.kind = "rate_limit" if status_code == 429 else "server"


def make_fault(kind: str, model: str) -> Exception:
    """The exception a fault of ``kind`` raises (``"invalid"`` raises nothing: it answers badly)."""
    if kind == "error":
        return InjectedConnectionError(f"injected fault: connection to {model} reset")
    if kind == "server":
        return InjectedHTTPError(f"injected fault: {model} answered 503 Service Unavailable", 503)
    if kind == "rate_limit":
        return InjectedHTTPError(f"injected fault: {model} answered 429 Too Many Requests", 429, {"retry-after": "0"})
    if kind == "timeout":
        return InjectedTimeout(f"injected fault: {model} timed out")
    raise ValueError(f"unknown fault kind {kind!r} (choose from {', '.join(FAULT_KINDS)})")


class FaultyLLM(BaseLLM):
    """Wraps ``inner``; each call fails with probability ``rate`` with a fault drawn from ``kinds``."""

    llm_type: str = "faulty"
    rate: float = 0.2
    fault_seed: int = 0  # not BaseLLM's ``seed``, which is the model's sampling seed
    kinds: tuple[str, ...] = FAULT_KINDS
    _inner: BaseLLM = PrivateAttr()
    _rng: random.Random = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _faults: Counter[str] = PrivateAttr(default_factory=Counter)
    _history: list[str | None] = PrivateAttr(default_factory=list)

    def __init__(self, inner: BaseLLM, rate: float = 0.2, seed: int = 0, kinds: Iterable[str] | None = None,
                 **data: Any) -> None:
        chosen = tuple(kinds) if kinds is not None else FAULT_KINDS
        unknown = sorted(set(chosen) - set(FAULT_KINDS))
        if unknown or not chosen:
            raise ValueError(f"unknown fault kinds {unknown} (choose from {', '.join(FAULT_KINDS)})")
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        data.setdefault("model", inner.model)
        data.setdefault("provider", inner.provider)
        super().__init__(rate=rate, fault_seed=seed, kinds=chosen, **data)
        self._inner = inner
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not secrets

    @property
    def inner(self) -> BaseLLM:
        return self._inner

    @property
    def faults(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        with self._lock:
            return dict(self._faults)

    @property
    def history(self) -> list[str | None]:
        """Per call, oldest first: the fault injected, or None when the call reached the inner model."""
        with self._lock:
            return list(self._history)

    def _draw(self) -> str | None:
        with self._lock:
            kind = self._rng.choice(self.kinds) if self._rng.random() < self.rate else None
            self._history.append(kind)
            if kind is not None:
                self._faults[kind] += 1
            return kind

    @owns_retries
    def call(  # type: ignore[override]
        self,
        messages: str | list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
        **kwargs: Any,
    ) -> str | Any:
        kind = self._draw()
        if kind == "invalid":
            return INVALID_ANSWER
        if kind is not None:
            fault = make_fault(kind, self.model)
            emit_failed_attempt(self, str(fault), messages=messages, from_task=from_task, from_agent=from_agent)
            raise fault
        with forward_call_overrides(self, self._inner):
            return self._inner.call(messages, tools=tools, callbacks=callbacks, available_functions=available_functions,
                                    from_task=from_task, from_agent=from_agent, response_model=response_model,
                                    **kwargs)

    @owns_retries
    async def acall(  # type: ignore[override]
        self,
        messages: str | list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
        **kwargs: Any,
    ) -> str | Any:
        """The sync path in a worker thread (``ScriptedLLM`` has no async path of its own)."""
        return await asyncio.to_thread(self.call, messages, tools, callbacks, available_functions, from_task,
                                       from_agent, response_model, **kwargs)

    def supports_function_calling(self) -> bool:
        return self._inner.supports_function_calling()

    def supports_stop_words(self) -> bool:
        return self._inner.supports_stop_words()

    def get_context_window_size(self) -> int:
        return self._inner.get_context_window_size()

    def supports_multimodal(self) -> bool:
        return self._inner.supports_multimodal()

    def get_token_usage_summary(self) -> UsageMetrics:
        return self._inner.get_token_usage_summary()
