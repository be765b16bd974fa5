"""The retry/fallback layer: backoff, classification, retries, fallbacks, the run-level breaker and stopping.

The inner models are scripted (answers and exceptions from a queue); sleeping is injected and recorded, so no
test waits and none asserts a wall-clock time.
"""

from __future__ import annotations

import asyncio
import random
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from etlcrew.model_runtime.retry import (
    InvalidOutput,
    RetryPolicy,
    classify,
    delay_for,
    parse_retry_after,
    parse_structured,
)

NOW = 1_700_000_000.0


class Item(BaseModel):
    name: str


class StatusError(Exception):
    """A litellm-style error: only a ``status_code`` attribute."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def api_error(cls: type[openai.APIStatusError], status: int, headers: dict[str, str] | None = None) -> Exception:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    return cls(f"status {status}", response=httpx.Response(status, headers=headers, request=request), body=None)


@pytest.fixture(autouse=True)
def crewai_ready(isolated_state: Path) -> None:
    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(isolated_state)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def resilient(chain: list[tuple[str, Any]], sleeps: list[float], **kwargs: Any) -> Any:
    from etlcrew.model_runtime.resilience import ResilientLLM

    policy = kwargs.pop("policy", RetryPolicy(attempts=3, timeout_s=None))
    return ResilientLLM(chain, policy, sleep=sleeps.append, rng=random.Random(7), **kwargs)


def scripted(*responses: Any, **kwargs: Any) -> Any:
    from etlcrew.model_runtime.scripted import ScriptedLLM

    return ScriptedLLM(list(responses), **kwargs)


# --- backoff -------------------------------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=30.0, jitter=0.0)
    delays = [delay_for(n, policy, random.Random(0)) for n in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_jitter_stays_within_bounds_and_is_deterministic_by_seed() -> None:
    policy = RetryPolicy(backoff_s=2.0, max_backoff_s=30.0, jitter=0.5)
    rng = random.Random(1)
    for attempt in (1, 2, 3):
        base = 2.0 * 2 ** (attempt - 1)
        draws = [delay_for(attempt, policy, rng) for _ in range(200)]
        assert all(base * 0.5 <= d <= base * 1.5 for d in draws)
        assert max(draws) - min(draws) > base * 0.5  # it does vary
    capped = [delay_for(9, policy, rng) for _ in range(200)]
    assert all(15.0 <= d <= 30.0 for d in capped)
    run = lambda seed: [delay_for(n, policy, random.Random(seed)) for n in range(1, 5)]  # noqa: E731
    assert run(5) == run(5) and run(5) != run(6)


def test_retry_after_is_honoured_beyond_the_backoff_cap_up_to_five_minutes() -> None:
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=30.0, jitter=0.0)
    assert delay_for(1, policy, random.Random(0), retry_after=60) == 60
    assert delay_for(1, policy, random.Random(0), retry_after=3600) == 300
    assert delay_for(3, policy, random.Random(0), retry_after=0.5) == 4.0  # the backoff is the floor
    assert delay_for(1, RetryPolicy(max_backoff_s=900, jitter=0), random.Random(0), retry_after=3600) == 900


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(formatdate(NOW + 120, usegmt=True), now=lambda: NOW) == pytest.approx(120)
    assert parse_retry_after(formatdate(NOW - 50, usegmt=True), now=lambda: NOW) == 0.0
    assert parse_retry_after("soon") is None
    dated = api_error(openai.RateLimitError, 429, {"Retry-After": formatdate(NOW + 30, usegmt=True)})
    assert classify(dated, now=lambda: NOW) == (True, pytest.approx(30))
    assert classify(api_error(openai.RateLimitError, 429, {"retry-after": "12"})) == (True, 12.0)
    assert classify(api_error(openai.RateLimitError, 429, {"retry-after-ms": "1500"})) == (True, 1.5)
    with_attribute = StatusError(429)
    with_attribute.retry_after = 4  # type: ignore[attr-defined]
    assert classify(with_attribute) == (True, 4.0)


# --- classification ------------------------------------------------------------------------------------------

REQUEST = httpx.Request("POST", "http://127.0.0.1/v1")


def crewai_connection_error() -> Exception:
    try:
        raise openai.APIConnectionError(request=REQUEST)
    except openai.APIConnectionError as exc:
        try:
            raise ConnectionError("Failed to connect to OpenAI API: Connection error.") from exc
        except ConnectionError as wrapped:
            return wrapped


@pytest.mark.parametrize(("error", "transient"), [
    (TimeoutError("slow"), True),
    (ConnectionResetError("reset"), True),
    (ConnectionRefusedError("refused"), True),
    (crewai_connection_error(), True),
    (httpx.ConnectTimeout("connect timeout"), True),
    (httpx.ReadError("read"), True),
    (openai.APITimeoutError(request=REQUEST), True),
    (openai.APIConnectionError(request=REQUEST), True),
    (api_error(openai.RateLimitError, 429), True),
    (api_error(openai.InternalServerError, 500), True),
    (api_error(openai.InternalServerError, 503), True),
    (api_error(openai.ConflictError, 409), True),
    (StatusError(408), True),
    (StatusError(502), True),
    (InvalidOutput("records: field required"), True),
    (api_error(openai.BadRequestError, 400), False),
    (api_error(openai.AuthenticationError, 401), False),
    (api_error(openai.PermissionDeniedError, 403), False),
    (api_error(openai.NotFoundError, 404), False),
    (StatusError(422), False),
    (ValueError("bad argument"), False),
    (KeyError("x"), False),
    (RuntimeError("ScriptedLLM: no response queued"), False),
])
def test_classification(error: Exception, transient: bool) -> None:
    assert classify(error)[0] is transient


def test_parse_structured_tolerates_fences_and_rejects_bad_json() -> None:
    assert parse_structured('```json\n{"name": "a"}\n```', Item) == Item(name="a")
    assert parse_structured(' {"name": "b"} ', Item) == Item(name="b")
    with pytest.raises(InvalidOutput, match="name"):
        parse_structured('{"nom": "a"}', Item)
    with pytest.raises(InvalidOutput):
        parse_structured('{"records": [', Item)


# --- retries and fallbacks -----------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_backoff_then_succeed(sleeps: list[float]) -> None:
    inner = scripted(ConnectionResetError("reset"), TimeoutError("slow"), "answer")
    llm = resilient([("primary", inner)], sleeps)
    assert llm.call("hello") == "answer"
    assert len(inner.history) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0  # 1 s then 2 s, jittered by at most half


def test_every_attempt_is_reserved_and_a_refused_one_never_reaches_the_model(sleeps: list[float]) -> None:
    from etlcrew.model_runtime.resilience import CallsStopped

    granted = [True, True]  # the budget holds two calls: the failed attempt and its retry
    inner = scripted(TimeoutError("slow"), "answer", "never asked")
    llm = resilient([("primary", inner)], sleeps, reserve=lambda: bool(granted) and granted.pop())
    assert llm.call("hello") == "answer" and len(inner.history) == 2
    with pytest.raises(CallsStopped, match="budget"):
        llm.call("again")
    assert len(inner.history) == 2


def test_a_non_transient_error_goes_straight_to_the_fallback(sleeps: list[float]) -> None:
    primary = scripted(api_error(openai.AuthenticationError, 401), "never used")
    fallback = scripted("from the fallback")
    llm = resilient([("primary", primary), ("fallback", fallback)], sleeps)
    assert llm.call("hello") == "from the fallback"
    assert len(primary.history) == 1 and sleeps == []


def events_seen(kinds: tuple[type, ...]) -> Any:
    """Record (event type, model, error, the CALL_SCOPE the handler sees) for LLM events, as the ledger would."""
    from contextlib import contextmanager

    from crewai.events.event_bus import crewai_event_bus

    from etlcrew.model_runtime.resilience import current_call_scope

    @contextmanager
    def recording() -> Any:
        seen: list[tuple[str, str | None, str | None, Any]] = []
        with crewai_event_bus.scoped_handlers():
            for kind in kinds:
                crewai_event_bus.on(kind)(lambda source, event: seen.append(
                    (event.type, event.model, getattr(event, "error", None), current_call_scope())))
            yield seen
            crewai_event_bus.flush()

    return recording()


def test_fallback_after_retries_are_exhausted_and_the_scope_each_attempt_sees(sleeps: list[float]) -> None:
    from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallFailedEvent

    from etlcrew.model_runtime.resilience import CallScope, current_call_scope

    seen: list[CallScope | None] = []

    def unavailable(call: Any) -> Any:
        seen.append(current_call_scope())
        return StatusError(503)

    def fine(call: Any) -> str:
        seen.append(current_call_scope())
        return "ok"

    primary = scripted(default=unavailable, model="big")
    fallback = scripted(default=fine, model="small")
    llm = resilient([("openai/big", primary), ("openai/small", fallback)], sleeps)
    with events_seen((LLMCallCompletedEvent, LLMCallFailedEvent)) as events:
        assert llm.call("hello") == "ok"
    assert seen == [CallScope("openai/big", 1, 0), CallScope("openai/big", 2, 0), CallScope("openai/big", 3, 0),
                    CallScope("openai/small", 1, 1)]
    assert len(sleeps) == 2  # between the primary's attempts, none before the fallback
    # the event handlers (the ledger's recorder) see the same scope, in their own thread
    assert [(kind, model, scope) for kind, model, _, scope in events] == [
        ("llm_call_failed", "big", seen[0]), ("llm_call_failed", "big", seen[1]),
        ("llm_call_failed", "big", seen[2]), ("llm_call_completed", "small", seen[3])]
    assert current_call_scope() is None


def test_model_call_failed_when_every_model_is_exhausted(sleeps: list[float]) -> None:
    from etlcrew.model_runtime.resilience import ModelCallFailed

    primary = scripted(default=lambda call: StatusError(503))
    fallback = scripted(default=lambda call: api_error(openai.BadRequestError, 400))
    llm = resilient([("primary", primary), ("fallback", fallback)], sleeps)
    with pytest.raises(ModelCallFailed, match=r"primary, fallback .*BadRequestError") as failed:
        llm.call("hello")
    assert isinstance(failed.value.__cause__, openai.BadRequestError)
    assert failed.value.models == ["primary", "fallback"]
    assert (len(primary.history), len(fallback.history)) == (3, 1)


def test_crewai_own_rate_limit_retry_steps_aside(sleeps: list[float]) -> None:
    from etlcrew.model_runtime.resilience import ModelCallFailed

    inner = scripted(default=lambda call: api_error(openai.RateLimitError, 429, {"retry-after": "0"}))
    llm = resilient([("primary", inner)], sleeps, policy=RetryPolicy(attempts=2, timeout_s=None))
    with pytest.raises(ModelCallFailed):
        llm.call("hello")
    assert len(inner.history) == 2  # CrewAI would otherwise retry each 429 itself, with real sleeps


def text_model(*responses: Any) -> Any:
    """A scripted model that returns raw text even when asked for structured output, as some providers do."""
    from etlcrew.model_runtime.scripted import ScriptedLLM

    class TextOnly(ScriptedLLM):
        def call(self, messages: Any, tools: Any = None, callbacks: Any = None,  # type: ignore[override]
                 available_functions: Any = None, from_task: Any = None, from_agent: Any = None,
                 response_model: Any = None) -> Any:
            return super().call(messages, tools, callbacks, available_functions, from_task, from_agent)

    return TextOnly(list(responses))


def test_invalid_json_for_the_response_model_is_retried_and_reported(sleeps: list[float]) -> None:
    from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallFailedEvent

    inner = scripted('{"name": ', {"name": "second"})  # the scripted model validates (and raises) itself
    llm = resilient([("primary", inner)], sleeps)
    assert llm.call("hello", response_model=Item) == Item(name="second")
    assert len(inner.history) == 2 and sleeps == []  # an invalid answer is asked again at once

    garbled = text_model('{"records": [', "Sure! Here it is: name=a", '{"nom": "a"}', '{"name": "never"}')
    llm = resilient([("garbled", garbled), ("fallback", text_model('```json\n{"name": "fallback"}\n```'))], sleeps)
    with events_seen((LLMCallCompletedEvent, LLMCallFailedEvent)) as events:
        assert llm.call("hello", response_model=Item) == Item(name="fallback")
    assert len(garbled.history) == 3
    # each rejected answer: the model's completed call, then our failed event for it, in the same attempt
    assert [(kind, scope.attempt, scope.fallback_index) for kind, _, _, scope in events] == [
        ("llm_call_completed", 1, 0), ("llm_call_failed", 1, 0), ("llm_call_completed", 2, 0),
        ("llm_call_failed", 2, 0), ("llm_call_completed", 3, 0), ("llm_call_failed", 3, 0),
        ("llm_call_completed", 1, 1)]
    errors = [error for kind, _, error, _ in events if kind == "llm_call_failed"]
    assert all(error.startswith("invalid output: ") for error in errors)
    assert "Invalid JSON" in errors[0] and "name: Field required" in errors[2]


def test_a_structured_answer_already_parsed_is_accepted(sleeps: list[float]) -> None:
    inner = scripted({"name": "a"})
    assert resilient([("primary", inner)], sleeps).call("hello", response_model=Item) == Item(name="a")


# --- the breaker and stopping --------------------------------------------------------------------------------


def test_breaker_trips_after_consecutive_failures_across_wrappers_and_resets_on_success(
        sleeps: list[float]) -> None:
    from etlcrew.errors import ModelError
    from etlcrew.model_runtime.resilience import FailureBreaker, ModelCallFailed, ModelUnavailable

    breaker = FailureBreaker(4)
    policy = RetryPolicy(attempts=1, timeout_s=None)
    a_inner = scripted(default=lambda call: StatusError(503))
    b_inner = scripted(StatusError(503), "ok", StatusError(503), StatusError(503))
    a = resilient([("a", a_inner)], sleeps, policy=policy, breaker=breaker)
    b = resilient([("b", b_inner)], sleeps, policy=policy, breaker=breaker)
    for llm in (a, a, b):
        with pytest.raises(ModelCallFailed):
            llm.call("hello")
    assert breaker.consecutive == 3
    assert b.call("hello") == "ok"
    assert breaker.consecutive == 0
    for llm in (a, a, b):
        with pytest.raises(ModelCallFailed):
            llm.call("hello")
    with pytest.raises(ModelUnavailable) as stopped:
        b.call("hello")
    assert isinstance(stopped.value, ModelError) and stopped.value.exit_code == 1
    assert str(stopped.value).startswith("4 model calls failed in a row (last: StatusError: HTTP 503)")
    assert "--base-url" in (stopped.value.hint or ""), "the cause; the run command adds how to resume"
    calls = len(a_inner.history)
    with pytest.raises(ModelUnavailable):  # tripped for good: no new call reaches a model
        a.call("hello")
    assert len(a_inner.history) == calls and breaker.tripped


def test_should_stop_lets_the_current_call_finish_and_starts_no_new_one(sleeps: list[float]) -> None:
    from etlcrew.model_runtime.resilience import CallsStopped

    stop = {"now": False}

    def answer_then_stop(call: Any) -> str:
        stop["now"] = True  # Ctrl-C arrives while the model is answering
        return "finished"

    inner = scripted(answer_then_stop, "never")
    llm = resilient([("primary", inner)], sleeps, should_stop=lambda: stop["now"])
    assert llm.call("hello") == "finished"
    with pytest.raises(CallsStopped):
        llm.call("again")
    assert len(inner.history) == 1


def test_should_stop_prevents_the_retry(sleeps: list[float]) -> None:
    from etlcrew.model_runtime.resilience import CallsStopped

    stop = {"now": False}

    def fail_then_stop(call: Any) -> Exception:
        stop["now"] = True
        return ConnectionResetError("reset")

    inner = scripted(fail_then_stop, "never")
    llm = resilient([("primary", inner), ("fallback", scripted("never"))], sleeps, should_stop=lambda: stop["now"])
    with pytest.raises(CallsStopped):
        llm.call("hello")
    assert len(inner.history) == 1 and sleeps == []


# --- looking like the primary to CrewAI ----------------------------------------------------------------------


def test_delegates_the_llm_surface_to_the_primary(sleeps: list[float]) -> None:
    primary = scripted("a", function_calling=False)
    llm = resilient([("openai/primary", primary), ("fallback", scripted())], sleeps)
    assert llm.model == "openai/primary" and llm.provider == "scripted"
    assert llm.supports_function_calling() is False
    assert llm.get_context_window_size() == 32_768
    assert llm.supports_stop_words() is True
    assert asyncio.run(llm.acall("hello")) == "a"
    assert llm.get_token_usage_summary().successful_requests == primary.get_token_usage_summary().successful_requests


def test_executor_stop_words_reach_the_inner_model(sleeps: list[float]) -> None:
    from crewai.llms.base_llm import call_stop_override

    inner = scripted(stop=["END"])
    seen: list[list[str]] = []
    inner.enqueue(lambda call: seen.append(list(inner.stop_sequences)) or "ok")
    llm = resilient([("primary", inner)], sleeps)
    with call_stop_override(llm, ["Observation:"]):  # what CrewAI's executor does around a call
        llm.call("hello")
    assert seen == [["END", "Observation:"]]


def test_the_per_call_timeout_reaches_an_openai_client(sleeps: list[float]) -> None:
    import crewai

    unset = crewai.LLM(model="openai/tiny", base_url="http://127.0.0.1:9/v1", api_key="sk-local")
    chosen = crewai.LLM(model="openai/tiny", base_url="http://127.0.0.1:9/v1", api_key="sk-local", timeout=9)
    resilient([("a", unset), ("b", chosen)], sleeps, policy=RetryPolicy(timeout_s=5))
    assert unset.timeout == 5 and unset._get_sync_client().timeout == 5
    assert chosen.timeout == 9 and chosen._get_sync_client().timeout == 9
