"""A real HTTP server on 127.0.0.1 (port 0) serving JSON pages, errors, a slow page and invalid JSON."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

Route = Callable[[dict[str, list[str]], dict[str, str]], tuple[int, str | bytes]]


def _items(q: dict[str, list[str]], _h: dict[str, str]) -> tuple[int, str]:
    page = int(q.get("page", ["1"])[0])
    rows = [{"id": f"p{page}-{i}", "title": f"item {i} of page {page}"} for i in range(1, 3)] if page <= 3 else []
    return 200, json.dumps({"data": {"items": rows}, "page": page})


def _cursor(q: dict[str, list[str]], _h: dict[str, str]) -> tuple[int, str]:
    cursor = int(q.get("cursor", ["1"])[0])
    nxt = f"/cursor?cursor={cursor + 1}" if cursor < 3 else None
    return 200, json.dumps({"results": [{"id": cursor * 10, "body": f"cursor {cursor}"}], "next": nxt})


def _flaky(q: dict[str, list[str]], _h: dict[str, str]) -> tuple[int, str]:
    page = int(q.get("page", ["1"])[0])
    if page == 2:
        return 500, "boom"
    return 200, json.dumps([{"id": page, "text": "fine"}])


def _next_bad(q: dict[str, list[str]], _h: dict[str, str]) -> tuple[int, str]:
    if q.get("step") == ["2"]:
        return 200, "<html>not json</html>"
    return 200, json.dumps({"results": [{"id": 1}], "next": "/next-bad?step=2"})


def _mixed(_q: dict[str, list[str]], _h: dict[str, str]) -> tuple[int, str]:
    records = [{"id": 1, "t": "ok"}, "a string", 42, {"t": "no id"}, {"id": 1, "t": "dup"}, {},
               {"id": 2, "t": "x" * 500}]
    return 200, json.dumps({"records": records})


def _auth(_q: dict[str, list[str]], h: dict[str, str]) -> tuple[int, str]:
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    if h.get("authorization") != expected:
        return 401, "no"
    return 200, json.dumps([{"id": 1, "who": "alice"}])


def _slow(_q: dict[str, list[str]], _h: dict[str, str]) -> tuple[int, str]:
    time.sleep(1.5)
    return 200, "[]"


ROUTES: dict[str, Route] = {
    "/items": _items,
    "/cursor": _cursor,
    "/flaky": _flaky,
    "/next-bad": _next_bad,
    "/mixed": _mixed,
    "/auth": _auth,
    "/slow": _slow,
    "/fail500": lambda q, h: (500, "internal"),
    "/badjson": lambda q, h: (200, "{not json"),
    "/offsite": lambda q, h: (200, json.dumps({"results": [{"id": 1}], "next": "http://elsewhere.invalid/x"})),
    "/header": lambda q, h: (200, json.dumps([{"id": 1, "key": h.get("x-api-key", "")}])),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        route = ROUTES.get(parts.path)
        status, body = (404, "not found") if route is None else route(
            parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()})
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def api() -> Iterator[str]:
    """Base URL of the test API."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
