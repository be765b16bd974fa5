"""Cost comes from config/prices.yaml, by configured or reported model name; a model served here costs 0, any other
model without a price has an unknown cost (``None``), never 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from etlcrew.errors import ConfigError
from etlcrew.model_runtime import usage

SHIPPED = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(autouse=True)
def restore_prices():  # type: ignore[no-untyped-def]
    saved = dict(usage.PRICES)
    yield
    usage.PRICES.clear()
    usage.PRICES.update(saved)


def test_shipped_prices_apply_to_configured_and_reported_names() -> None:
    usage.load_prices(SHIPPED)
    by_config = usage.cost_usd("openai/gpt-4o-mini", 1_000_000, 1_000_000)
    assert by_config == pytest.approx(0.75)
    assert usage.cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == by_config, "providers report bare names"
    assert usage.cost_usd("smollm2-135m", 10**9, 10**9) == 0.0


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5",
                                   "anthropic/claude-opus-4-1", "gemini/gemini-2.0-flash",
                                   "gemini/gemini-2.5-flash", "gemini/gemini-2.5-pro"])
def test_current_anthropic_and_gemini_models_have_prices(model: str) -> None:
    usage.load_prices(SHIPPED)
    cost = usage.cost_usd(model, 1_000_000, 1_000_000)
    assert cost is not None and cost > 0


@pytest.mark.parametrize("model", ["openai/my-model", "anthropic/claude-future-9", "gemini/gemini-9-pro",
                                   "deepseek/deepseek-chat", "gpt-9"])
def test_a_hosted_model_without_a_price_has_an_unknown_cost_not_zero(model: str) -> None:
    usage.load_prices(SHIPPED)
    assert usage.cost_usd(model, 1000, 1000) is None
    assert usage.total_cost([("gpt-4o-mini", 10, 10), (model, 1000, 1000)]) is None, "a partial sum is not the cost"
    assert usage.unpriced([model, "local/smollm2-135m"]) == [model]


@pytest.mark.parametrize(("reported", "configured"), [
    ("qwen2.5-coder-1.5b", []), ("qwen2.5-coder-1.5b", ["local/qwen2.5-coder-1.5b"]),
    ("qwen2.5", ["ollama/qwen2.5"]), ("scripted-sample", ["scripted/sample"]), ("local/smollm2-135m", [])])
def test_a_model_served_here_costs_nothing(reported: str, configured: list[str]) -> None:
    usage.load_prices(SHIPPED)
    assert usage.cost_usd(reported, 10**6, 10**6, configured) == 0.0


def test_a_malformed_price_is_a_config_error_naming_the_model(tmp_path: Path) -> None:
    (tmp_path / "prices.yaml").write_text("openai/gpt-x: 0.15\n")
    with pytest.raises(ConfigError) as caught:
        usage.load_prices(tmp_path)
    assert "openai/gpt-x" in caught.value.problems[0].render()


def test_no_prices_file_leaves_hosted_costs_unknown(tmp_path: Path) -> None:
    assert usage.load_prices(tmp_path) == {}
    assert usage.cost_usd("openai/gpt-4o", 10**6, 10**6) is None
    assert usage.cost_usd("local/smollm2-135m", 10**6, 10**6) == 0.0
