"""One failed attempt is one count, one ledger row and one message: a stub server that answers 500 to its first
calls, reached over real HTTP by CrewAI's OpenAI provider (which reports each failure twice)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai_stub import StubOpenAI

FAILURES = 3


def test_each_failed_attempt_is_counted_once_everywhere(project_dir: Path, cli, isolated_state: Path) -> None:  # type: ignore[no-untyped-def]
    server = StubOpenAI(fail_first=FAILURES)
    try:
        result = cli("run", "--model", "openai/stub", "--base-url", server.url, "--json")
    finally:
        server.close()
    run = result.json
    assert result.code == 0 and server.failed == FAILURES
    assert run["llm"]["failed_calls"] == FAILURES
    assert run["llm"]["calls"] == len(server.requests) - FAILURES
    show = cli("show", run["run_id"], "--json")
    assert show.code == 0
    shown = show.json
    assert shown["llm"]["failed_calls"] == FAILURES
    from etlcrew.ledger import open_ledger

    ledger = open_ledger(isolated_state)
    try:
        failed = [c for c in ledger.calls(run["run_id"]) if c["error"]]
    finally:
        ledger.close()
    assert len(failed) == FAILURES and all(c["latency_ms"] is not None for c in failed)


@pytest.mark.parametrize("variable", ["OLLAMA_HOST", "OLLAMA_API_BASE"])
def test_ollama_is_found_through_either_variable(project_dir: Path, cli, monkeypatch, variable: str) -> None:  # type: ignore[no-untyped-def]
    server = StubOpenAI()
    try:
        monkeypatch.delenv("OLLAMA_HOST", raising=False)
        monkeypatch.delenv("OLLAMA_API_BASE", raising=False)
        monkeypatch.setenv(variable, server.url.removeprefix("http://").removesuffix("/v1"))  # host:port, as guides
        result = cli("run", "--model", "ollama/qwen2.5", "--json")
    finally:
        server.close()
    run = result.json
    assert result.code == 0 and run["items"]["loaded"] == 30
    assert server.requests and all(r["model"] == "qwen2.5" for r in server.requests)


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "OPENAI_API_BASE"])
def test_an_openai_compatible_server_is_found_through_the_openai_variables(  # type: ignore[no-untyped-def]
        project_dir: Path, cli, monkeypatch, variable: str) -> None:
    """How vLLM, LM Studio and llama-server users point CrewAI at their server: MODEL plus the OpenAI SDK's
    variable, any model name, no key."""
    server = StubOpenAI()
    try:
        monkeypatch.setenv("MODEL", "openai/my-model")
        monkeypatch.setenv(variable, server.url)
        result = cli("run", "--json")
    finally:
        server.close()
    assert result.code == 0, result.err
    assert result.json["items"]["loaded"] == 30
    assert server.requests and all(r["model"] == "my-model" for r in server.requests)
    assert result.json["llm"]["cost_usd"] is None, "a model without a price has an unknown cost, not $0"


def test_a_model_without_a_price_shows_its_cost_as_unknown_everywhere(  # type: ignore[no-untyped-def]
        project_dir: Path, cli, monkeypatch) -> None:
    server = StubOpenAI()
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        run = cli("run", "--model", "openai/my-model")
    finally:
        server.close()
    assert run.code == 0, run.err
    assert "cost unknown" in run.out and "openai/my-model has no price" in run.out and "$0.0000" not in run.out
    runs = cli("runs")
    row = next(line for line in runs.out.splitlines() if "succeeded" in line)
    assert row.split()[-1] == "-" and "config/prices.yaml" in runs.err + runs.out
    assert cli("runs", "--json").json[0]["llm"]["cost_usd"] is None
    run_id = cli("runs", "--json").json[0]["run_id"]
    shown = cli("show", run_id, "--json").json
    assert shown["llm"]["cost_usd"] is None and all(p["cost_usd"] is None for p in shown["phases"])
    assert "cost unknown" in cli("show", run_id).out
    (project_dir / "config" / "prices.yaml").write_text("openai/my-model: [1.0, 2.0]\n")
    priced = cli("runs", "--json").json[0]["llm"]
    assert priced["cost_usd"] == pytest.approx((priced["prompt_tokens"] + 2 * priced["completion_tokens"]) / 1e6)


@pytest.mark.parametrize(("model", "key", "extra"), [
    ("anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY", "anthropic"),
    ("gemini/gemini-2.0-flash", "GEMINI_API_KEY", "gemini"),
])
def test_a_provider_without_its_package_stops_before_the_run_naming_the_install(  # type: ignore[no-untyped-def]
        project_dir: Path, cli, monkeypatch, isolated_state: Path, model: str, key: str, extra: str) -> None:
    import sys

    module = {"anthropic": "anthropic", "gemini": "google.genai"}[extra]
    monkeypatch.setitem(sys.modules, module, None)  # Python's own "not importable" (the dev extra installs it)
    monkeypatch.setenv(key, "k-test")
    code, _, err = cli("run", "--model", model, "--json")
    assert code == 2
    assert f'pip install -e ".[{extra}]"' in err and "Traceback" not in err
    if (isolated_state / "ledger.db").exists():
        runs = cli("runs", "--json")
        assert runs.code == 0 and runs.json == [], "no run was started"
