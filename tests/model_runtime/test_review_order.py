"""The review queue is ordered lowest confidence first, with each value's probability beside it: items held by a
stub OpenAI server on 127.0.0.1 that is unsure of the category of three e-mails, each to its own degree."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from openai_stub import StubOpenAI
from test_confidence import set_min_confidence, tokens_of

UNSURE = {"inbox:0001-double-charge.eml": 0.4, "inbox:0002-thermostat-wont-hold-temp.eml": 0.2,
          "inbox:0003-doorbell-offline-urgent.eml": 0.3}


def per_item(content: str, value: str | None) -> list[dict[str, Any]]:
    p = next((p for item_id, p in UNSURE.items() if item_id in content), 0.95)
    return tokens_of(content, value, p)


def test_held_items_come_lowest_confidence_first_with_their_probabilities(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    server = StubOpenAI(logprobs=per_item)
    try:
        set_min_confidence(project_dir, 0.5)
        result = cli("run", "--model", "openai/stub", "--base-url", server.url, "--json")
    finally:
        server.close()
    assert result.code == 0 and result.json["items"]["review"] == 3
    held = cli("review", "--list", "--json").json["held"]
    assert [h["item_id"] for h in held] == sorted(UNSURE, key=UNSURE.get)
    for h in held:
        assert math.isclose(h["lowest_probability"], UNSURE[h["item_id"]], abs_tol=0.005)
        assert math.isclose(h["fields"]["category"]["probability"], UNSURE[h["item_id"]], abs_tol=0.005)
        assert h["reason"].startswith("low confidence (category")
    listed = cli("review", "--list")
    assert listed.code == 0 and "0.20" in listed.out and "inbox:0002-thermostat-wont-hold-temp.eml" in listed.out
