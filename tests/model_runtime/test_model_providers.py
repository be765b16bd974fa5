"""Model precedence, provider keys and reachability, all without a network or a real model."""

from __future__ import annotations

import itertools
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from etlcrew.errors import ModelError, ModelSetupError
from etlcrew.model_runtime.providers import build_llm, check_reachable, resolve_model, resolve_model_name
from etlcrew.settings import load_settings

LEVELS = ("flag", "agent", "crew", "env")


@pytest.mark.parametrize("given", [c for r in range(5) for c in itertools.combinations(LEVELS, r)])
def test_precedence_every_combination(given: tuple[str, ...]) -> None:
    values = {level: (f"openai/{level}-model" if level in given else None) for level in LEVELS}
    name, origin = resolve_model(values["flag"], values["agent"], values["crew"], values["env"])
    winner = next((level for level in LEVELS if level in given), None)
    assert name == (f"openai/{winner}-model" if winner else "local/qwen2.5-coder-1.5b")
    assert origin == {"flag": "--model flag", "agent": "agent llm:", "crew": "crew model:", "env": "MODEL",
                      None: "embedded default"}[winner]


def test_blank_values_are_unset_and_default_can_be_overridden() -> None:
    assert resolve_model_name("", "  ", None, "anthropic/claude-x") == "anthropic/claude-x"
    assert resolve_model_name(None, None, None, None, default="local/qwen2.5-coder-0.5b") == "local/qwen2.5-coder-0.5b"
    assert resolve_model_name("smollm2-135m", None, None, None) == "local/smollm2-135m"  # bare catalogue name
    assert resolve_model_name("gpt-4o-mini", None, None, None) == "gpt-4o-mini"


@pytest.mark.parametrize(("model", "variable"), [
    ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
    ("gpt-4o-mini", "OPENAI_API_KEY"),
    ("anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
    ("gemini/gemini-2.0-flash", "GEMINI_API_KEY or GOOGLE_API_KEY"),
])
def test_missing_provider_key_names_the_variable(model: str, variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ModelSetupError) as caught:
        build_llm(model, load_settings(load_dotenv_file=False))
    assert variable in caught.value.message
    assert ".env" in (caught.value.hint or "")
    assert caught.value.exit_code == 2


def test_unknown_local_model_is_a_setup_error() -> None:
    with pytest.raises(ModelSetupError, match="Did you mean 'local/smollm2-135m'"):
        build_llm("local/smollm2", load_settings(load_dotenv_file=False))


def test_openai_compatible_server_needs_no_key() -> None:
    settings = load_settings(load_dotenv_file=False)
    llm = build_llm("openai/my-model", settings, base_url="http://127.0.0.1:9/v1")
    assert llm.model == "my-model"
    assert str(llm.base_url).startswith("http://127.0.0.1:9/v1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_reachable_names_the_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(ModelError) as caught:
        check_reachable(url, timeout=1.0)
    assert url in caught.value.message
    with pytest.raises(ModelSetupError, match="must start with http"):
        check_reachable("localhost:11434")


def test_check_reachable_accepts_any_http_answer() -> None:
    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_reachable(f"http://127.0.0.1:{server.server_port}/v1")
    finally:
        server.shutdown()
        server.server_close()
