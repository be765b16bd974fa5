"""Helpers for tool tests: a sandbox folder tree, a loopback HTTP server, and a scripted model that calls tools.

Everything is real (files, SQLite, ``http.server`` on 127.0.0.1); only the model is scripted.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from etlcrew.tools.scope import ToolScope


@pytest.fixture
def sandbox(tmp_path: Path) -> ToolScope:
    """A project with ``data/inbox`` (two notes), ``data/reference``, ``data/shop.sqlite`` and ``output/``."""
    base = tmp_path / "proj"
    (base / "data" / "inbox").mkdir(parents=True)
    (base / "data" / "reference").mkdir()
    (base / "output").mkdir()
    (base / "data" / "inbox" / "a.txt").write_text("hello from a\n", encoding="utf-8")
    (base / "data" / "inbox" / "b.md").write_text("# b\nsecond note\n", encoding="utf-8")
    (base / "data" / "reference" / "products.csv").write_text("product,price\nHub,99\n", encoding="utf-8")
    (base / "secret.txt").write_text("top secret\n", encoding="utf-8")
    with sqlite3.connect(base / "data" / "shop.sqlite") as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, note TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, i * 10.0, f"note {i}") for i in range(1, 8)])
    conn.close()
    return ToolScope(read_roots=(base / "data" / "inbox", base / "data" / "reference"),
                     sql_urls=("sqlite:///data/shop.sqlite",), write_roots=(base / "output",), base_dir=base)


@dataclass
class Loopback:
    """A real HTTP server on 127.0.0.1: ``routes`` maps a path to (status, headers, body); requests are kept."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def json(self, path: str, value: Any, status: int = 200) -> None:
        self.routes[path] = (status, {"Content-Type": "application/json"}, json.dumps(value).encode())

    def redirect(self, path: str, location: str) -> None:
        self.routes[path] = (302, {"Location": location}, b"")


def _serve(server_state: Loopback) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server_state.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers), "body": body})
            status, headers, payload = server_state.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def loopback() -> Iterator[Callable[[], Loopback]]:
    """A factory of loopback servers (two of them make a declared and an undeclared host)."""
    running: list[ThreadingHTTPServer] = []

    def start() -> Loopback:
        state = Loopback()
        server, _ = _serve(state)
        running.append(server)
        return state

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


@pytest.fixture
def builtin(isolated_state: Path) -> Callable[[str], Any]:
    """``builtin("read_file")``: a built-in tool loaded through the registry, as a crew gets it."""
    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(isolated_state)
    from etlcrew.tools.registry import BUILTIN_DIR, discover, load_tool

    found = discover(BUILTIN_DIR.parent)
    return lambda name: load_tool(found[name])


@pytest.fixture
def tool_calling_llm(scripted):  # type: ignore[no-untyped-def]
    """``tool_calling_llm("name", default=fn)``: a ScriptedLLM whose answers may be native tool calls (a list
    of ``{"function": ...}`` dicts, passed through so CrewAI runs the tool and calls the model again)."""
    return scripted
