"""A run whose model cannot serve stops before touching any item: exit 2 for setup, 1 for a dead endpoint."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from yaml_edit import edit_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_provider_key_is_a_setup_error(project_dir: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", "--model", "anthropic/claude-3-5-haiku-latest")
    assert code == 2
    assert "needs ANTHROPIC_API_KEY to be set" in err and ".env" in err
    assert not (tmp_path / "output").exists(), "nothing was processed or written"


def test_dead_endpoint_fails_fast_naming_the_url(project_dir: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, _, err = cli("run", "--model", "openai/anything", "--base-url", url)
    assert code == 1
    assert f"no model server answers at {url}" in err and "Traceback" not in err
    assert not (tmp_path / "output").exists()


@pytest.fixture
def failing_server() -> Iterator[str]:
    """An OpenAI-compatible address on 127.0.0.1 that answers every request with HTTP 500."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b'{"error": {"message": "internal error", "type": "server_error"}}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_a_run_stopped_by_a_failing_model_names_its_own_id(project_dir: Path, failing_server: str, cli,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every message that points to ``resume`` carries the run's real id (it once said ``RUN_ID``)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000")
    edit_config(project_dir / "config" / "crews.yaml", "  batch_size: 10\n",
                "  batch_size: 10\n  retry:\n    backoff_s: 0\n    attempts: 1\n    max_consecutive_failures: 2\n")
    code, _, err = cli("run", "--model", "openai/gpt-4o-mini", "--base-url", failing_server)
    assert code == 1, err
    runs = cli("runs", "--json")
    assert runs.code == 0
    (run,) = runs.json
    assert run["status"] == "failed" and run["resumable"]
    assert "model calls failed in a row" in err and "RUN_ID" not in err
    assert err.count(f"python main.py resume {run['run_id']}") == 1, err
