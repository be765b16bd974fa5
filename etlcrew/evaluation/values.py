"""How a label's text and a model's value are read as numbers, booleans and datetimes: one home for both the
labels check (``evaluation.labels``) and the comparison (``evaluation.scoring``), so any label that reads is
comparable."""

from __future__ import annotations

import math
from datetime import date, datetime, time
from typing import Any

BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def parse_number(value: Any) -> float:
    """A finite number from a number or its text; booleans are not numbers here."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def parse_boolean(value: Any) -> bool:
    """true/false, yes/no or 1/0 in any case, or a real boolean."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold() if isinstance(value, str | int) else None
    if text not in BOOLEANS:
        raise ValueError(f"not a boolean: {value!r}")
    return BOOLEANS[text]


def parse_datetime(value: Any) -> datetime:
    """A datetime from an ISO string, a datetime, or a date (at midnight)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if not isinstance(value, str):
        raise ValueError(f"not a date or datetime: {value!r}")
    return datetime.fromisoformat(value.strip())
