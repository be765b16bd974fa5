"""A scripted model that leaves three inbox items looking unread (one summary repeated verbatim), so a run holds
exactly those three for review. Not a test module."""

from __future__ import annotations

import json
from typing import Any

HELD = ("inbox:0001-double-charge.eml", "inbox:0002-thermostat-wont-hold-temp.eml",
        "inbox:0003-doorbell-offline-urgent.eml")
SAME = "Same day double charge of 4 EUR on the plan."


def three_alike(call: Any) -> str:
    """The sample answer, with the held items' summaries made identical."""
    from etlcrew.model_runtime.scripted import sample_answer

    data = json.loads(sample_answer(call)) if call.response_model is not None else None
    if isinstance(data, dict) and "records" in data:
        for record in data["records"]:
            if record.get("item_id") in HELD:
                record["summary"] = SAME
        return json.dumps(data)
    return sample_answer(call)
