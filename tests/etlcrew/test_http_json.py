"""The one HTTP JSON client against a real server on 127.0.0.1, and the one retry rule its callers share."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from etlcrew.http_json import HttpUnreachable, send
from etlcrew.model_runtime.retry import transient_status

SEEN: list[dict[str, object]] = []


class _Handler(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: bytes, ctype: str = "application/json; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(1.0)
        routes = {"/ok": (200, json.dumps({"a": "é"}).encode()), "/down": (503, b"busy"),
                  "/big": (200, b"[" + b"1," * 100 + b"1]"), "/latin": (200, "\"caf\xe9\"".encode("latin-1"))}
        status, body = routes.get(self.path, (404, b"{}"))
        self._answer(status, body, "application/json; charset=iso-8859-1" if self.path == "/latin"
                     else "application/json; charset=utf-8")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        SEEN.append({"headers": dict(self.headers), "body": body})
        self._answer(201, b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_statuses_bodies_and_charsets(base: str) -> None:
    ok = send("GET", f"{base}/ok")
    assert ok.ok and ok.json() == {"a": "é"}
    down = send("GET", f"{base}/down")
    assert (down.status, down.ok, down.body) == (503, False, b"busy")
    assert send("GET", f"{base}/big", max_bytes=50).too_large
    assert send("GET", f"{base}/latin").json() == "café"
    with pytest.raises(ValueError, match="invalid JSON at line 1 column 1"):
        down.json()


def test_post_sends_json_with_the_callers_headers(base: str) -> None:
    reply = send("POST", f"{base}/hook", payload={"n": 1, "t": "ü"}, headers={"Idempotency-Key": "k1"})
    assert reply.status == 201
    assert SEEN[-1]["body"] == {"n": 1, "t": "ü"} and SEEN[-1]["headers"]["Idempotency-Key"] == "k1"
    assert SEEN[-1]["headers"]["Content-Type"] == "application/json"


def test_no_answer_is_unreachable_and_a_timeout_says_so(base: str) -> None:
    with pytest.raises(HttpUnreachable, match="cannot connect") as refused:
        send("GET", "http://127.0.0.1:9/x", timeout_s=2)
    assert not refused.value.timed_out
    with pytest.raises(HttpUnreachable, match=r"no response within 0.2 s") as slow:
        send("GET", f"{base}/slow", timeout_s=0.2)
    assert slow.value.timed_out
    with pytest.raises(ValueError, match="not an http"):
        send("GET", "file:///etc/passwd")


@pytest.mark.parametrize(("status", "retry"), [(500, True), (503, True), (429, True), (408, True), (409, True),
                                               (400, False), (401, False), (404, False), (200, False)])
def test_one_rule_says_which_statuses_are_retried(status: int, retry: bool) -> None:
    assert transient_status(status) is retry
