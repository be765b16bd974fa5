"""Cost comes from config/prices.yaml: by configured or reported model name, 0 for unlisted models."""

from __future__ import annotations

from pathlib import Path

import pytest

from etlcrew.errors import ConfigError
from etlcrew.model_runtime import usage


@pytest.fixture(autouse=True)
def restore_prices():  # type: ignore[no-untyped-def]
    saved = dict(usage.PRICES)
    yield
    usage.PRICES.clear()
    usage.PRICES.update(saved)


def test_shipped_prices_apply_to_configured_and_reported_names() -> None:
    usage.load_prices(Path(__file__).resolve().parents[2] / "config")
    by_config = usage.cost_usd("openai/gpt-4o-mini", 1_000_000, 1_000_000)
    assert by_config == pytest.approx(0.75)
    assert usage.cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == by_config, "providers report bare names"
    assert usage.cost_usd("smollm2-135m", 10**9, 10**9) == 0.0


def test_a_malformed_price_is_a_config_error_naming_the_model(tmp_path: Path) -> None:
    (tmp_path / "prices.yaml").write_text("openai/gpt-x: 0.15\n")
    with pytest.raises(ConfigError) as caught:
        usage.load_prices(tmp_path)
    assert "openai/gpt-x" in caught.value.problems[0].render()


def test_no_prices_file_means_everything_costs_nothing(tmp_path: Path) -> None:
    assert usage.load_prices(tmp_path) == {}
    assert usage.cost_usd("openai/gpt-4o", 10**6, 10**6) == 0.0
