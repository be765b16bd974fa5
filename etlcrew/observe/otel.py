"""Optional OpenTelemetry export of a run's events: off unless ``ETLCREW_OTEL_ENDPOINT`` names your collector.

Spans go over OTLP/HTTP to that endpoint only (e.g. ``http://127.0.0.1:4318``), never anywhere else: CrewAI's
own telemetry stays off. One span for the run, one per batch, one per model call (its latency as duration, its
tokens as attributes) and per tool call; other events are span events on the run. The OpenTelemetry SDK comes
with CrewAI; ``OTEL_SDK_DISABLED`` (which we set so nothing else exports) is lifted for our provider alone.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

from etlcrew.observe.events import RunEvent

ENV = "ETLCREW_OTEL_ENDPOINT"


def _ns(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1e9)


class OtelExport:
    """A sink for ``EventHub``; ``close()`` ends the open spans and flushes."""

    def __init__(self, endpoint: str, run_id: str, crew: str = "") -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        saved = os.environ.pop("OTEL_SDK_DISABLED", None)
        try:
            self.provider = TracerProvider(resource=Resource.create({"service.name": "etlcrew"}))
        finally:
            if saved is not None:
                os.environ["OTEL_SDK_DISABLED"] = saved
        url = endpoint.rstrip("/") + ("" if endpoint.rstrip("/").endswith("/v1/traces") else "/v1/traces")
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=5)))
        self.tracer = self.provider.get_tracer("etlcrew")
        self._lock = threading.Lock()
        self.run_span = self.tracer.start_span("etlcrew.run", attributes={"etlcrew.run_id": run_id,
                                                                          "etlcrew.crew": crew})
        self.batches: dict[int, Any] = {}

    def _context(self, batch: int | None) -> Any:
        from opentelemetry import trace

        parent = self.batches.get(batch) if batch is not None else None
        return trace.set_span_in_context(parent or self.run_span)

    def __call__(self, event: RunEvent) -> None:
        from etlcrew.redact import redact

        attributes = {f"etlcrew.{k}": (redact(v) if isinstance(v, str) else v)
                      for k, v in event.as_dict().items() if k not in ("detail", "time") and v is not None}
        with self._lock:
            if event.type == "batch_started" and event.batch is not None:
                self.batches[event.batch] = self.tracer.start_span(
                    f"batch {event.batch}", context=self._context(None), attributes=attributes,
                    start_time=_ns(event.time))
            elif event.type == "batch_done" and event.batch in self.batches:
                self.batches.pop(event.batch).end(end_time=_ns(event.time))
            elif event.type in ("llm_call", "llm_call_failed", "tool_finished", "tool_error"):
                end = _ns(event.time)
                start = end - int((event.latency_ms or 0) * 1e6)
                name = f"model {event.model}" if event.type.startswith("llm") else f"tool {event.tool}"
                span = self.tracer.start_span(name, context=self._context(event.batch), attributes=attributes,
                                              start_time=start)
                span.end(end_time=end)
            else:
                self.run_span.add_event(event.type, attributes=attributes, timestamp=_ns(event.time))

    def close(self) -> None:
        with self._lock:
            for span in self.batches.values():
                span.end()
            self.run_span.end()
        self.provider.force_flush(timeout_millis=5000)
        self.provider.shutdown()


def otel_from_env(run_id: str, crew: str) -> OtelExport | None:
    """The exporter when the user turned it on, else None (the default)."""
    endpoint = os.environ.get(ENV, "").strip()
    return OtelExport(endpoint, run_id, crew) if endpoint else None
