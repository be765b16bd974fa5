"""A call's latency is measured from CrewAI's own events, whatever order its handler pool runs them in.

CrewAI runs sync handlers on a pool of threads, so a call's completed handler can run before its started handler
(seen on Python 3.13 with the instant scripted model: the ledger kept ``latency_ms`` null for such calls).
"""

from __future__ import annotations

import threading
import time

from etlcrew.model_runtime.usage import CallRecord, UsageMeter

GAP_S = 0.2  # between the two events' creation: the call's true latency


def _events() -> tuple[object, object]:
    from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallStartedEvent, LLMCallType

    started = LLMCallStartedEvent(call_id="c1", model="scripted/x", messages="hi")
    time.sleep(GAP_S)
    completed = LLMCallCompletedEvent(call_id="c1", model="scripted/x", response="ok",
                                      call_type=LLMCallType.LLM_CALL, usage={"prompt_tokens": 3})
    return started, completed


def test_latency_is_kept_when_the_completed_handler_runs_first() -> None:
    recorded: list[CallRecord] = []
    meter = UsageMeter(record=recorded.append)
    started, completed = _events()
    finishing = threading.Thread(target=meter._completed, args=(None, completed))
    finishing.start()
    time.sleep(0.1)  # the pool reaches the started handler late
    meter._started_call(None, started)
    finishing.join(timeout=10)
    assert [r.prompt_tokens for r in recorded] == [3]
    latency = recorded[0].latency_ms
    assert latency is not None and GAP_S * 1000 <= latency < GAP_S * 1000 + 500


def test_handler_delay_is_not_counted_as_latency() -> None:
    """Both handlers run a second after the call ended (a busy pool): the latency is still the call's."""
    recorded: list[CallRecord] = []
    meter = UsageMeter(record=recorded.append)
    started, completed = _events()
    time.sleep(1.0)
    meter._started_call(None, started)
    meter._completed(None, completed)
    latency = recorded[0].latency_ms
    assert latency is not None and GAP_S * 1000 <= latency < 1000
