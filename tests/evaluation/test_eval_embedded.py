"""The default embedded model through the shipped crew beats a floor on a few labelled items (slow: ~1-2 min on
2 cores; needs the weights, `python main.py models pull`). The figures on all 30 items are in README
Performance (bench/quality.py)."""

from __future__ import annotations

import pytest

from etlcrew.settings import load_settings

pytestmark = pytest.mark.embedded


def test_default_model_gets_most_categories_right_on_four_labelled_items(cli) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.catalogue import default_entry
    from etlcrew.model_runtime.weights import cache_status

    entry = default_entry()
    if cache_status(entry, load_settings(load_dotenv_file=False).model_cache_dir) != "present":
        pytest.skip("default model weights not cached: run `python main.py models pull`")
    result = cli("eval", "--limit", "4", "--json")
    assert result.code == 0, result.err
    [row] = result.json["results"]
    assert row["model"] == entry.provider_name
    assert row["fields"]["category"]["correct"] >= 3, row["fields"]["category"]
    assert row["fields"]["product"]["correct"] >= 3, row["fields"]["product"]
    assert row["quarantined"] == 0
