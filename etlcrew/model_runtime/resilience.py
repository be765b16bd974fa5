"""Retries and fallbacks at the model boundary, so one flaky call fails one batch and a dead endpoint stops the run.

``ResilientLLM`` wraps a chain of CrewAI LLMs (primary first). Each call tries every model up to
``RetryPolicy.attempts`` times: transient errors (timeouts, dropped connections, 408/409/429/5xx, an answer that
does not parse as the requested ``response_model``) are retried after a jittered exponential backoff that honours
Retry-After; other errors (400/401/403, bad arguments) go straight to the next model. When the chain is
exhausted the call raises ``ModelCallFailed`` (the caller fails the batch). A ``FailureBreaker`` shared by all
wrappers of a run counts failed attempts in a row and raises ``ModelUnavailable`` (a ``ModelError``) at its cap.

CrewAI also retries: every ``BaseLLM.call`` is wrapped in its own 429 retry with real sleeps
(``crewai/llms/retry.py``), and the OpenAI client retries 2 times by default (``max_retries``). This layer owns
retries: it opts out of CrewAI's wrapper for itself and switches it off for the models it calls; the OpenAI
client's ``max_retries`` must be set where the LLM is built (``crewai.LLM(..., max_retries=0)``).

The policy, backoff and classification live in ``model_runtime.retry`` (no CrewAI import) and are re-exported
here. Importing this module imports CrewAI: call ``etlcrew.crewai_env.prepare_crewai_environment`` first.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from crewai.hooks.dispatch import HookAborted
from crewai.llms.base_llm import BaseLLM, call_stop_override, call_stream_override, llm_call_context
from crewai.types.usage_metrics import UsageMetrics
from pydantic import BaseModel, PrivateAttr, ValidationError

from etlcrew import console
from etlcrew.errors import ModelError
from etlcrew.model_runtime.retry import (
    RETRY_AFTER_CAP_S,
    TRANSIENT_STATUS,
    InvalidOutput,
    RetryPolicy,
    apply_timeout,
    classify,
    delay_for,
    invalid_output,
    parse_retry_after,
    parse_structured,
    short_error,
)

__all__ = [
    "CALL_SCOPE", "RETRY_AFTER_CAP_S", "TRANSIENT_STATUS", "CallScope", "CallsStopped", "FailureBreaker",
    "InvalidOutput", "ModelCallFailed", "ModelUnavailable", "ResilientLLM", "RetryPolicy", "apply_timeout",
    "classify", "crewai_retry_disabled", "current_call_scope", "delay_for", "emit_failed_attempt",
    "forward_call_overrides", "invalid_output", "owns_retries", "parse_retry_after", "parse_structured",
]


class ModelCallFailed(Exception):
    """Every attempt on every model of the chain failed for one call; the caller fails the batch."""

    def __init__(self, models: Sequence[str], last: BaseException | None) -> None:
        detail = f"{type(last).__name__}: {short_error(last)}" if last else "no attempt was made"
        super().__init__(f"model call failed on {', '.join(models)} (last: {detail})")
        self.models = list(models)
        self.last = last


# Both subclass CrewAI's HookAborted: CrewAI passes those through instead of swallowing them into its own retry
# loops (an agent's max_retry_limit, the converter's attempts), so they stop the run at once.
class ModelUnavailable(ModelError, HookAborted):
    """Too many model calls failed in a row: the endpoint is down, so the whole run stops (and can resume)."""


class CallsStopped(HookAborted):
    """``should_stop()`` said so (Ctrl-C), or ``reserve()`` refused the call (budget spent): the calls under way
    finish, no new one starts, and the items the refused call was for stay pending for ``resume``."""

    def __init__(self, reason: str = "model calls stopped") -> None:
        super().__init__(reason)


class FailureBreaker:
    """Failed attempts in a row, across every wrapper of one run (thread-safe). It stays tripped once tripped,
    so a caller that swallows ``ModelUnavailable`` cannot start more calls."""

    def __init__(self, max_consecutive: int = 10) -> None:
        self.max_consecutive = max_consecutive
        self._count = 0
        self._tripped: tuple[str, str] | None = None  # message and hint, raised afresh by every check()
        self._lock = threading.Lock()

    @property
    def consecutive(self) -> int:
        return self._count

    @property
    def tripped(self) -> bool:
        return self._tripped is not None

    def check(self) -> None:
        """Raise ``ModelUnavailable`` if the breaker has tripped (called before every attempt)."""
        if self._tripped is not None:
            raise ModelUnavailable(*self._tripped)

    def failed(self, error: BaseException) -> None:
        """Count one failed attempt; at the cap, trip and raise ``ModelUnavailable``."""
        with self._lock:
            self._count += 1
            if self._tripped is None and self._count >= self.max_consecutive:
                # the run command adds how to resume, with the run's id (``run_result.with_resume_hint``)
                cause = ("the model keeps answering with invalid output: try a larger model" if
                         isinstance(error, InvalidOutput) else
                         "check that the model endpoint answers (--base-url, the provider's status, the API key)")
                self._tripped = (
                    f"{self._count} model calls failed in a row (last: {type(error).__name__}: {short_error(error)})",
                    cause,
                )
        self.check()

    def succeeded(self) -> None:
        with self._lock:
            self._count = 0


@dataclass(frozen=True)
class CallScope:
    """Which model and attempt an inner call is; event handlers read it (they run in a copy of our context)."""

    model: str
    attempt: int
    fallback_index: int


CALL_SCOPE: ContextVar[CallScope | None] = ContextVar("etlcrew_call_scope", default=None)


def current_call_scope() -> CallScope | None:
    """The attempt in progress in this context, if any (for the ledger's event handlers)."""
    return CALL_SCOPE.get()


F = TypeVar("F", bound=Callable[..., Any])


def owns_retries(method: F) -> F:
    """Mark a ``call``/``acall`` so CrewAI's ``BaseLLM`` does not wrap it in its own rate-limit retry."""
    method._crewai_rate_limit_wrapped = True  # type: ignore[attr-defined]
    return method


@contextmanager
def forward_call_overrides(outer: BaseLLM, inner: BaseLLM) -> Iterator[None]:
    """CrewAI scopes an executor's stop words and streaming to one LLM instance; pass the wrapper's on."""
    with ExitStack() as stack:
        extra = [s for s in outer.stop_sequences if s not in inner.stop]
        if extra:
            stack.enter_context(call_stop_override(inner, [*inner.stop, *extra]))
        stream = outer._effective_stream()
        if stream is not None:
            stack.enter_context(call_stream_override(inner, stream))
        yield


def emit_failed_attempt(source: BaseLLM, error: str, *, messages: Any = None, from_task: Any = None,
                        from_agent: Any = None) -> None:
    """Report one failed attempt as CrewAI's started/failed pair, in its own call scope: the event bus pairs
    them on a scope stack, and a failure without its start would close the wrong scope (the task's)."""
    with llm_call_context():
        source._emit_call_started_event(messages=messages, from_task=from_task, from_agent=from_agent)
        source._emit_call_failed_event(error=error, from_task=from_task, from_agent=from_agent)


@contextmanager
def crewai_retry_disabled() -> Iterator[None]:
    """Tell the models we call that a retry is already in progress, so CrewAI's own 429 retry steps aside."""
    try:
        from crewai.llms.retry import _active_llm_rate_limit_retry
    except ImportError:  # pragma: no cover - a CrewAI without it has no wrapper to disable
        yield
        return
    token = _active_llm_rate_limit_retry.set(True)
    try:
        yield
    finally:
        _active_llm_rate_limit_retry.reset(token)


class ResilientLLM(BaseLLM):
    """A CrewAI LLM that retries and falls back across ``chain`` (``[(name, llm), ...]``, primary first).

    It looks like the primary to CrewAI (model, provider, function calling, stop words, context window). The
    inner models emit the started/completed/failed events and count tokens; this wrapper only adds a failed
    event for an answer it rejects as invalid, so usage is never counted twice. ``sleep`` and ``rng`` are
    injectable for tests; ``policy.timeout_s`` is applied with ``apply_timeout`` to each model.
    """

    llm_type: str = "resilient"
    _chain: list[tuple[str, BaseLLM]] = PrivateAttr(default_factory=list)
    _policy: RetryPolicy = PrivateAttr(default_factory=RetryPolicy)
    _breaker: FailureBreaker = PrivateAttr(default_factory=FailureBreaker)
    _should_stop: Callable[[], bool] | None = PrivateAttr(default=None)
    _reserve: Callable[[], bool] | None = PrivateAttr(default=None)
    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)
    _rng: random.Random = PrivateAttr(default_factory=random.Random)
    _rng_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, chain: Sequence[tuple[str, BaseLLM]], policy: RetryPolicy | None = None,
                 breaker: FailureBreaker | None = None, *, should_stop: Callable[[], bool] | None = None,
                 reserve: Callable[[], bool] | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None,
                 **data: Any) -> None:
        if not chain:
            raise ValueError("ResilientLLM needs at least one model")
        name, primary = chain[0]
        data.setdefault("model", name)
        data.setdefault("provider", getattr(primary, "provider", None) or "openai")
        super().__init__(**data)
        self._policy = policy or RetryPolicy()
        self._breaker = breaker or FailureBreaker(self._policy.max_consecutive_failures)
        self._chain, self._should_stop, self._sleep = list(chain), should_stop, sleep
        self._reserve = reserve  # the run's budget: every attempt is reserved before it starts
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        for _, llm in self._chain:
            apply_timeout(llm, self._policy.timeout_s)

    @property
    def chain(self) -> list[tuple[str, BaseLLM]]:
        return list(self._chain)

    @property
    def primary(self) -> BaseLLM:
        return self._chain[0][1]

    @owns_retries
    def call(  # type: ignore[override]
        self, messages: str | list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None, available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None, from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None, **kwargs: Any,
    ) -> str | Any:
        """One logical call: each model in turn, each up to ``policy.attempts`` times."""
        policy, last, tried, transient = self._policy, None, [], False
        request = dict(messages=messages, tools=tools, callbacks=callbacks, available_functions=available_functions,
                       from_task=from_task, from_agent=from_agent, response_model=response_model, **kwargs)
        for index, (name, llm) in enumerate(self._chain):
            tried.append(name)
            for attempt in range(1, policy.attempts + 1):
                self._before_attempt()
                try:
                    result = self._attempt(llm, CallScope(name, attempt, index), request)
                except HookAborted:
                    raise
                except Exception as exc:
                    last = exc
                    transient, retry_after = classify(exc)
                    self._breaker.failed(exc)
                    if not transient or attempt == policy.attempts:
                        break
                    with self._rng_lock:  # an invalid answer says nothing about load: ask again at once
                        delay = 0.0 if isinstance(exc, InvalidOutput) else delay_for(attempt, policy, self._rng,
                                                                                     retry_after)
                    console.warn(f"model {name}: attempt {attempt}/{policy.attempts} failed "
                                 f"({type(exc).__name__}), retrying in {delay:.1f}s")
                    self._wait(delay)
                    continue
                self._breaker.succeeded()
                return result
            if index + 1 < len(self._chain):
                why = "not retryable" if not transient else f"{policy.attempts} attempts"
                console.warn(f"model {name} failed ({type(last).__name__}, {why}), "
                             f"falling back to {self._chain[index + 1][0]}")
        raise ModelCallFailed(tried, last) from last

    @owns_retries
    async def acall(  # type: ignore[override]
        self, messages: str | list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None, available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None, from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None, **kwargs: Any,
    ) -> str | Any:
        """The sync path in a worker thread: retries and backoff never block the event loop."""
        return await asyncio.to_thread(self.call, messages, tools, callbacks, available_functions, from_task,
                                       from_agent, response_model, **kwargs)

    def _before_attempt(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise CallsStopped()
        self._breaker.check()
        if self._reserve is not None and not self._reserve():
            raise CallsStopped("the run's budget is spent")

    def _wait(self, delay: float) -> None:
        """Sleep, in short steps when ``should_stop`` is set so Ctrl-C is not held up by a long backoff."""
        step = delay if self._should_stop is None else 0.5
        while delay > 0:
            if self._should_stop is not None and self._should_stop():
                return  # the next _before_attempt raises CallsStopped
            self._sleep(min(step, delay))
            delay -= step

    def _attempt(self, llm: BaseLLM, scope: CallScope, request: dict[str, Any]) -> Any:
        response_model = request["response_model"]
        token = CALL_SCOPE.set(scope)
        try:
            try:
                with forward_call_overrides(self, llm), crewai_retry_disabled():
                    result = llm.call(**request)
            except ValidationError as exc:  # a provider that parses the answer itself (and reports the failure)
                if response_model is None:
                    raise
                raise invalid_output(exc) from exc
            if response_model is not None and isinstance(result, str):
                try:
                    return parse_structured(result, response_model)
                except InvalidOutput as exc:
                    self._report_invalid(llm, exc, request)
                    raise
            return result
        finally:
            CALL_SCOPE.reset(token)

    @staticmethod
    def _report_invalid(llm: BaseLLM, exc: InvalidOutput, request: dict[str, Any]) -> None:
        """The inner model reported a completed call; the ledger must also see that we rejected it."""
        emit_failed_attempt(llm, f"invalid output: {exc}", from_task=request["from_task"],
                            from_agent=request["from_agent"])

    def supports_function_calling(self) -> bool:
        return self.primary.supports_function_calling()

    def supports_stop_words(self) -> bool:
        return self.primary.supports_stop_words()

    def get_context_window_size(self) -> int:
        return self.primary.get_context_window_size()

    def supports_multimodal(self) -> bool:
        return self.primary.supports_multimodal()

    def get_token_usage_summary(self) -> UsageMetrics:
        """The sum over the chain's distinct models (this wrapper counts nothing itself)."""
        total, seen = UsageMetrics(), set()
        for _, llm in self._chain:
            if id(llm) not in seen:
                seen.add(id(llm))
                total.add_usage_metrics(llm.get_token_usage_summary())
        return total
