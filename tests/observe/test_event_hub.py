"""The run's event hub hands sinks one event at a time, whatever thread emits it.

Batches and graph items emit from their own threads; the display's ``RunProgress`` counted its batches while
another thread's event added one, and a ``process: graph`` resume failed with "dictionary changed size during
iteration".
"""

from __future__ import annotations

import threading
import time

from etlcrew.observe.events import EventHub, RunEvent

THREADS, EVENTS = 8, 25


def test_sinks_never_see_two_events_at_once() -> None:
    hub = EventHub("run")
    active, most, seen = [0], [0], []
    guard = threading.Lock()

    def sink(event: RunEvent) -> None:
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.001)  # long enough for another thread's event to arrive meanwhile
        seen.append(event.batch)
        with guard:
            active[0] -= 1

    hub.add(sink)

    def emit_many(batch: int) -> None:
        for _ in range(EVENTS):
            hub.emit("batch_running", batch=batch)

    threads = [threading.Thread(target=emit_many, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert most[0] == 1, "two events reached the sink at once"
    assert sorted(seen) == sorted(n for n in range(THREADS) for _ in range(EVENTS)), "an event was lost"


def test_a_sink_may_emit_while_it_handles_an_event() -> None:
    hub = EventHub("run")
    got: list[str] = []

    def sink(event: RunEvent) -> None:
        got.append(event.type)
        if event.type == "batch_done":
            hub.emit("landed")

    hub.add(sink)
    emitter = threading.Thread(target=hub.emit, args=("batch_done",))
    emitter.start()
    emitter.join(timeout=10)
    assert not emitter.is_alive(), "the hub deadlocked on a sink's own event"
    assert got == ["batch_done", "landed"]
