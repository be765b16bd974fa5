"""Where an item goes after its record is validated: the crew's routes, first match wins (``specs.routes``).

Runs inside the ``validate`` node, so the decision and the route counters are in the checkpoint with it; a
resumed thread does not decide again.
"""

from __future__ import annotations

from typing import Any

from etlcrew.pipeline.targets.conditions import Condition, parse_condition
from etlcrew.specs.routes import DEFAULT_RETRY, INVALID, ROUTE_FIELDS, RouteSpec


class Router:
    """The compiled routes after ``transform`` (with the implicit retry of an invalid record when none is given)."""

    def __init__(self, routes: dict[str, list[RouteSpec]], fields: list[str]) -> None:
        listed = list(routes.get("transform", []))
        if not any(r.when.strip() == INVALID for r in listed):
            listed.insert(0, RouteSpec(**DEFAULT_RETRY))  # as sequential: one retry, then quarantine
        self.routes = listed
        self.tests: list[Condition | None] = [
            None if r.when.strip() == INVALID else parse_condition(r.when, [*fields, *ROUTE_FIELDS]) for r in listed]

    def decide(self, record: dict[str, Any] | None, confidence: float | None, taken: dict[str, int]
               ) -> tuple[str, str, dict[str, int]]:
        """(next node, why, route counters updated); ``record`` is None when the item's record is invalid."""
        values = (record or {}) | {"confidence": confidence}
        for i, (route, test) in enumerate(zip(self.routes, self.tests, strict=True)):
            matches = record is None if test is None else record is not None and test(values)
            if not matches:
                continue
            key = f"transform#{i}"
            if route.max is not None and taken.get(key, 0) >= route.max:
                if record is None:
                    break  # retries used up: quarantined below
                continue
            return route.goto, f"route: {' '.join(route.when.split())}", taken | {key: taken.get(key, 0) + 1}
        return ("quarantine" if record is None else "land"), "", taken
