"""Credentials in headers come from the environment as ${NAME}: sent on the wire, absent from the config."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from etlcrew.pipeline.targets.webhook import post_webhooks
from etlcrew.specs.datapath import WebhookTarget
from etlcrew.specs.env_refs import env_names, with_env


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    """A real endpoint on 127.0.0.1 that records the Authorization header of each POST."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", seen
    server.shutdown()
    server.server_close()


def test_webhook_sends_the_header_from_the_environment(receiver: tuple[str, list[str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = receiver
    monkeypatch.setenv("HOOK_TOKEN", "t0ken-from-env")
    spec = WebhookTarget(type="webhook", url=url, headers={"Authorization": "Bearer ${HOOK_TOKEN}"})
    results = post_webhooks(spec, [{"item_id": "a:1"}], "run-1", set(), crew="c", table="t")
    assert [r.outcome for r in results] == ["sent"]
    assert seen == ["Bearer t0ken-from-env"]
    assert "t0ken" not in spec.model_dump_json()


def test_names_and_substitution() -> None:
    headers = {"Authorization": "Bearer ${A}", "X-Both": "${B}-${A}"}
    assert env_names(headers) == ["A", "B"]
    assert with_env(headers, {"A": "1", "B": "2"}) == {"Authorization": "Bearer 1", "X-Both": "2-1"}
    with pytest.raises(KeyError):
        with_env(headers, {"A": "1"})
