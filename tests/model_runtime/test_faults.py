"""The fault-injecting model, and real CrewAI crews surviving (or stopping on) a flaky model behind ResilientLLM."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from etlcrew.model_runtime.retry import RetryPolicy, classify


class Review(BaseModel):
    sentiment: str
    product: str


@pytest.fixture(autouse=True)
def crewai_ready(isolated_state: Path) -> None:
    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(isolated_state)


def faulty(rate: float = 0.3, seed: int = 1, **kwargs: Any) -> Any:
    from etlcrew.model_runtime.faults import FaultyLLM
    from etlcrew.model_runtime.scripted import ScriptedLLM, sample_answer

    return FaultyLLM(ScriptedLLM(default=sample_answer), rate=rate, seed=seed, **kwargs)


def drive(llm: Any, calls: int) -> list[str | None]:
    """Call ``calls`` times, swallowing injected faults; returns the fault history."""
    from etlcrew.model_runtime.faults import InjectedFault

    for _ in range(calls):
        with contextlib.suppress(InjectedFault):
            llm.call("hello")
    return llm.history


def test_the_same_seed_gives_the_same_faults() -> None:
    first, again, other = drive(faulty(seed=3), 60), drive(faulty(seed=3), 60), drive(faulty(seed=4), 60)
    assert first == again
    assert first != other
    assert {k for k in first if k} == {"error", "server", "rate_limit", "timeout", "invalid"}


def test_roughly_rate_faults_over_many_calls() -> None:
    llm = faulty(rate=0.3, seed=11)
    history = drive(llm, 500)
    injected = sum(1 for kind in history if kind)
    assert 110 <= injected <= 190  # 150 expected; the binomial spread is about 10
    assert sum(llm.faults.values()) == injected
    assert len(llm.inner.history) == 500 - injected  # faults never reach the inner model
    assert drive(faulty(rate=0.0), 50) == [None] * 50
    assert all(drive(faulty(rate=1.0), 50))


def test_each_kind_fails_like_a_real_endpoint() -> None:
    from etlcrew.model_runtime.faults import INVALID_ANSWER, InjectedFault

    for kind, retry_after in (("error", None), ("server", None), ("rate_limit", 0.0), ("timeout", None)):
        with pytest.raises(InjectedFault) as raised:
            faulty(rate=1.0, kinds=[kind]).call("hello")
        assert raised.value.kind == kind
        assert classify(raised.value) == (True, retry_after)
    assert isinstance(_raise(faulty(rate=1.0, kinds=["timeout"])), TimeoutError)
    assert isinstance(_raise(faulty(rate=1.0, kinds=["error"])), ConnectionError)
    assert getattr(_raise(faulty(rate=1.0, kinds=["server"])), "status_code", None) == 503
    assert faulty(rate=1.0, kinds=["invalid"]).call("hello") == INVALID_ANSWER


def _raise(llm: Any) -> BaseException:
    try:
        llm.call("hello")
    except Exception as exc:
        return exc
    raise AssertionError("no fault raised")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        faulty(kinds=["gremlins"])
    with pytest.raises(ValueError, match="rate"):
        faulty(rate=1.5)


def test_raised_faults_emit_a_paired_failed_call_and_nothing_else() -> None:
    from crewai.events.event_bus import crewai_event_bus
    from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallFailedEvent, LLMCallStartedEvent

    seen: list[tuple[str, str]] = []
    with crewai_event_bus.scoped_handlers():
        for kind in (LLMCallStartedEvent, LLMCallCompletedEvent, LLMCallFailedEvent):
            crewai_event_bus.on(kind)(lambda source, event: seen.append((event.type, str(event.call_id))))
        _raise(faulty(rate=1.0, kinds=["server"]))
        faulty(rate=1.0, kinds=["invalid"]).call("hello")
        crewai_event_bus.flush()
    assert [kind for kind, _ in seen] == ["llm_call_started", "llm_call_failed"]
    assert seen[0][1] == seen[1][1]  # one call id: the ledger can time the failed attempt


def test_concurrent_callers_draw_the_same_faults_as_one() -> None:
    llm, reference = faulty(seed=8), drive(faulty(seed=8), 400)
    threads = [threading.Thread(target=drive, args=(llm, 50)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(llm.history) == 400
    assert Counter(llm.history) == Counter(reference)
    assert llm.faults == dict(Counter(k for k in reference if k))


def test_delegates_the_llm_surface_to_the_inner_model() -> None:
    from etlcrew.model_runtime.faults import FaultyLLM
    from etlcrew.model_runtime.scripted import ScriptedLLM

    inner = ScriptedLLM(["hi"], model="tiny", function_calling=False)
    llm = FaultyLLM(inner, rate=0.0)
    assert (llm.model, llm.provider, llm.supports_function_calling()) == ("tiny", "scripted", False)
    assert llm.get_context_window_size() == inner.get_context_window_size()
    assert llm.call("hello") == "hi"
    assert llm.get_token_usage_summary().total_tokens == inner.get_token_usage_summary().total_tokens > 0


def test_invalid_answers_are_rejected_and_retried_behind_the_retry_layer() -> None:
    from etlcrew.model_runtime.resilience import ResilientLLM

    garbled = faulty(rate=1.0, kinds=["invalid"])
    fallback = faulty(rate=0.0)
    llm = ResilientLLM([("garbled", garbled), ("fallback", fallback)], RetryPolicy(), sleep=lambda s: None)
    assert llm.call("hello", response_model=Review) == Review(sentiment="scripted", product="scripted")
    assert garbled.faults == {"invalid": 3} and garbled.inner.history == []


# --- real crews --------------------------------------------------------------------------------------------------


def review_crew(llm: Any) -> Any:
    import crewai

    agent = crewai.Agent(role="Classifier", goal="Classify reviews", backstory="Terse.", llm=llm, max_iter=3)
    task = crewai.Task(description="Review: 'Lovely teapot, pours well.'", expected_output="sentiment and product",
                       agent=agent, output_pydantic=Review)
    return crewai.Crew(agents=[agent], tasks=[task])


def test_a_crew_on_a_flaky_model_ends_with_valid_output() -> None:
    from etlcrew.model_runtime.resilience import FailureBreaker, ResilientLLM

    sleeps: list[float] = []
    flaky, breaker = faulty(rate=0.3, seed=1), FailureBreaker(10)
    llm = ResilientLLM([("scripted", flaky)], RetryPolicy(), breaker, sleep=sleeps.append, rng=random.Random(1))
    output = review_crew(llm).kickoff()
    assert isinstance(output.pydantic, Review)
    assert sum(flaky.faults.values()) >= 1 and len(sleeps) >= 1  # faults happened and were retried
    assert breaker.consecutive == 0


def test_a_crew_on_a_dead_endpoint_stops_at_the_breaker_without_crewai_retrying() -> None:
    from crewai.events.event_bus import crewai_event_bus
    from crewai.events.types.agent_events import AgentExecutionStartedEvent

    from etlcrew.model_runtime.resilience import FailureBreaker, ModelUnavailable, ResilientLLM

    dead = faulty(rate=1.0, kinds=["server"])
    llm = ResilientLLM([("scripted", dead)], RetryPolicy(attempts=2), FailureBreaker(3), sleep=lambda s: None)
    executions: list[str] = []
    with crewai_event_bus.scoped_handlers():
        crewai_event_bus.on(AgentExecutionStartedEvent)(lambda source, event: executions.append(event.type))
        with pytest.raises(ModelUnavailable, match="3 model calls failed in a row"):
            review_crew(llm).kickoff()
        crewai_event_bus.flush()
    # 2 failed attempts end in ModelCallFailed, which the agent retries (its max_retry_limit); the third attempt
    # trips the breaker, and CrewAI passes ModelUnavailable through instead of executing the task a third time
    assert dead.faults == {"server": 3}
    assert len(executions) == 2


def test_a_crew_asked_to_stop_starts_no_model_call() -> None:
    from etlcrew.model_runtime.resilience import CallsStopped, ResilientLLM

    flaky = faulty(rate=0.0)
    llm = ResilientLLM([("scripted", flaky)], RetryPolicy(), should_stop=lambda: True, sleep=lambda s: None)
    with pytest.raises(CallsStopped):
        review_crew(llm).kickoff()
    assert flaky.history == [] and flaky.inner.history == []
