"""Anthropic's and Gemini's request paths, end to end over real HTTP: `run --model anthropic/... --base-url URL`
reaches CrewAI's native provider, which talks to a stub of the provider's API on 127.0.0.1 (the installed client
packages, a fake key, no network). The OpenAI-compatible path (OpenAI, Ollama) is covered in test_failed_calls.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from provider_stubs import COMPLETION_TOKENS, PROMPT_TOKENS, Seen, StubAnthropic, StubGemini, StubServer
from yaml_edit import edit_config

TXT_ONLY = ('      patterns: ["*.eml", "*.txt"]\n', '      patterns: ["*.txt"]\n')  # 10 items, one batch


@dataclass(frozen=True)
class Provider:
    stub: type[StubServer]
    key_env: str
    key_header: str
    package: str


ANTHROPIC = Provider(StubAnthropic, "ANTHROPIC_API_KEY", "x-api-key", "anthropic")
GEMINI = Provider(StubGemini, "GEMINI_API_KEY", "x-goog-api-key", "google.genai")


def _structured_anthropic_tool(seen: Seen) -> bool:
    """Models without native structured output get the schema as a forced ``structured_output`` tool."""
    return (seen.path == "/v1/messages" and seen.body["model"] == "claude-3-5-haiku-latest"
            and seen.body.get("tool_choice") == {"type": "tool", "name": "structured_output"})


def _structured_anthropic_native(seen: Seen) -> bool:
    """Claude 4.5-era models get ``output_format`` through the beta Messages endpoint."""
    return (seen.path == "/v1/messages?beta=true" and seen.body["model"] == "claude-sonnet-4-5"
            and "structured-outputs" in seen.headers.get("anthropic-beta", "") and "output_format" in seen.body)


def _structured_gemini(seen: Seen) -> bool:
    """Gemini 2.0+ gets the JSON schema itself (older names get a pydantic-made ``responseSchema``)."""
    config = seen.body.get("generationConfig", {})
    return (seen.path == "/v1beta/models/gemini-2.0-flash:generateContent"
            and config.get("responseMimeType") == "application/json" and "responseJsonSchema" in config)


CASES = [
    pytest.param("anthropic/claude-3-5-haiku-latest", ANTHROPIC, _structured_anthropic_tool, id="anthropic-tool"),
    pytest.param("anthropic/claude-sonnet-4-5", ANTHROPIC, _structured_anthropic_native, id="anthropic-native"),
    pytest.param("gemini/gemini-2.0-flash", GEMINI, _structured_gemini, id="gemini"),
]


def _run(project_dir: Path, cli, monkeypatch: pytest.MonkeyPatch, model: str,  # type: ignore[no-untyped-def]
         provider: Provider, **stub_options: int) -> tuple[int, dict, StubServer]:  # type: ignore[type-arg]
    pytest.importorskip(provider.package, reason=f'pip install -e ".[dev]" installs {provider.package}')
    edit_config(project_dir / "config" / "crews.yaml", *TXT_ONLY)
    monkeypatch.setenv(provider.key_env, "k-test")
    stub = provider.stub(**stub_options)
    try:
        result = cli("run", "--model", model, "--base-url", stub.url, "--json")
        code, run = result.code, result.json
    finally:
        stub.close()
    return code, run, stub


@pytest.mark.parametrize(("model", "provider", "request_shape"), CASES)
def test_a_native_provider_runs_against_its_api_on_loopback(  # type: ignore[no-untyped-def]
        project_dir: Path, tmp_path: Path, cli, monkeypatch, model: str, provider: Provider,
        request_shape) -> None:
    code, run, stub = _run(project_dir, cli, monkeypatch, model, provider)
    assert code == 0 and run["status"] == "succeeded", run.get("error")
    assert run["items"]["loaded"] == 10
    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM etlcrew.tickets").fetchone() == (10,)
    assert stub.requests and all(request_shape(seen) for seen in stub.requests)
    assert all(seen.headers[provider.key_header] == "k-test" for seen in stub.requests)
    calls = len(stub.requests)
    assert run["llm"]["calls"] == calls and run["llm"]["failed_calls"] == 0
    assert (run["llm"]["prompt_tokens"], run["llm"]["completion_tokens"]) == (PROMPT_TOKENS * calls,
                                                                             COMPLETION_TOKENS * calls)


FAILURES = 3


@pytest.mark.parametrize(("model", "provider"), [
    pytest.param("anthropic/claude-3-5-haiku-latest", ANTHROPIC, id="anthropic"),
    pytest.param("gemini/gemini-2.0-flash", GEMINI, id="gemini"),
])
def test_each_500_from_a_native_provider_is_one_failed_call(  # type: ignore[no-untyped-def]
        project_dir: Path, cli, monkeypatch, model: str, provider: Provider) -> None:
    code, run, stub = _run(project_dir, cli, monkeypatch, model, provider, fail_first=FAILURES)
    assert code == 0 and stub.failed == FAILURES
    assert run["llm"]["failed_calls"] == FAILURES, "the client retried on its own, or an attempt was counted twice"
    assert run["llm"]["calls"] == len(stub.requests) - FAILURES


@pytest.mark.parametrize(("model", "provider"), [
    pytest.param("anthropic/claude-3-5-haiku-latest", ANTHROPIC, id="anthropic"),
    pytest.param("gemini/gemini-2.0-flash", GEMINI, id="gemini"),
])
def test_the_crews_call_timeout_reaches_a_native_provider(  # type: ignore[no-untyped-def]
        project_dir: Path, cli, monkeypatch, model: str, provider: Provider) -> None:
    """Gemini's client takes its timeout in ``http_options`` (CrewAI's ``timeout`` alone never reaches it)."""
    edit_config(project_dir / "config" / "crews.yaml", "  batch_size: 10\n",
                "  batch_size: 10\n  retry: {timeout_s: 1, backoff_s: 0.1}\n")
    code, run, stub = _run(project_dir, cli, monkeypatch, model, provider, stall_first=1)
    assert stub.stalled == 1
    assert code == 0 and run["items"]["loaded"] == 10
    assert run["llm"]["failed_calls"] == 1, "the stalled call was not cut off by the crew's timeout"


@pytest.mark.parametrize("model", ["gemini/gemini-1.5-pro", "gemini/gemini-pro-latest"])
def test_a_gemini_model_that_cannot_return_records_stops_before_the_run(  # type: ignore[no-untyped-def]
        project_dir: Path, cli, monkeypatch, isolated_state: Path, model: str) -> None:
    """Below Gemini 2.0 CrewAI sends google-genai a ``Schema`` that rejects our records' ``prefixItems``."""
    stub = StubGemini()
    monkeypatch.setenv("GEMINI_API_KEY", "k-test")
    try:
        code, _, err = cli("run", "--model", model, "--base-url", stub.url, "--json")
    finally:
        stub.close()
    assert code == 2 and "--model gemini/gemini-2.0-flash" in err and "Traceback" not in err
    assert stub.requests == []
    if (isolated_state / "ledger.db").exists():
        runs = cli("runs", "--json")
        assert runs.code == 0 and runs.json == [], "no run was started"
