"""OpenTelemetry export is off by default and, when turned on, sends spans to the user's collector only."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


class Collector:
    """An OTLP/HTTP endpoint on 127.0.0.1 that keeps the bodies posted to /v1/traces."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                owner.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.paths: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def collector():  # type: ignore[no-untyped-def]
    made = Collector()
    yield made
    made.server.shutdown()


def test_spans_reach_the_collector_when_turned_on(project_dir: Path, scripted, collector, cli,  # type: ignore[no-untyped-def]
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    scripted("otel", default=sample_answer)
    monkeypatch.setenv("ETLCREW_OTEL_ENDPOINT", collector.url)
    assert cli("run", "--model", "scripted/otel", "--quiet").code == 0
    payload = b"".join(collector.bodies)
    assert collector.paths and all(p == "/v1/traces" for p in collector.paths)
    for name in (b"etlcrew.run", b"batch 1", b"model scripted", b"etlcrew.prompt_tokens"):
        assert name in payload, name


def test_export_is_off_unless_an_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from etlcrew.observe.otel import ENV, otel_from_env

    monkeypatch.delenv(ENV, raising=False)
    assert otel_from_env("run", "crew") is None
    monkeypatch.setenv(ENV, "   ")
    assert otel_from_env("run", "crew") is None
