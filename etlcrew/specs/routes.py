"""``routes:`` of a ``process: graph`` crew: where an item goes after a phase, and the checks ``validate`` runs.

    routes:
      transform:
        - {when: invalid, goto: transform, max: 1}      # retry this node, then quarantine
        - {when: "confidence < 0.5", goto: review}      # hold the record in the review lane
        - {when: "urgency == 'urgent'", goto: approve}  # a person approves before it lands

Routes follow ``transform`` (the phase whose record the conditions read); the first whose ``when`` matches wins,
else the item lands (or, invalid, is quarantined). ``when`` is ``invalid`` or a condition of the targets'
``when:`` language over the record's fields, ``item_id`` and ``confidence`` (the lowest probability of the
record's enum values, when the model gave log-probabilities). Without an ``invalid`` route, an invalid record is
retried once, as in ``sequential``.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from etlcrew.errors import ConfigProblem

INVALID = "invalid"
ROUTED_PHASES = ("transform",)  # phases routes may follow
PHASE_NODES = ("extract", "transform")  # a crew's phases that become graph nodes (load: see pipeline.graph.build)
BUILT_IN = ("review", "approve", "quarantine", "land")
ROUTE_FIELDS = ("confidence", "item_id")  # what a condition may read besides the schema's fields
DEFAULT_RETRY = {"when": INVALID, "goto": "transform", "max": 1}


class RouteSpec(BaseModel):
    """One route: when its condition holds after the phase, the item goes to ``goto`` (at most ``max`` times)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: str = Field(min_length=1, description="'invalid', or a condition such as \"confidence < 0.5\"")
    goto: str = Field(description="a phase of the crew, or review, approve, quarantine, land")
    max: int | None = Field(default=None, ge=1, le=20, description="times this route may be taken per item "
                            "(required when it goes back to a phase)")


def graph_nodes(phases: list[str]) -> list[str]:
    """The nodes of a crew's graph: its extract and transform phases, then the built-in ones."""
    return [p for p in PHASE_NODES if p in phases] + list(BUILT_IN)


def check_routes(routes: dict[str, list[RouteSpec]], phases: list[str], fields: list[str],
                 where: str, file: str, entry: str, line: Callable[..., int | None]) -> list[ConfigProblem]:
    """Every problem of a crew's routes: unknown nodes, unreachable routes, loops without ``max``, conditions
    on unknown fields."""
    from etlcrew.pipeline.targets.conditions import ConditionError, parse_condition
    from etlcrew.specs.did_you_mean import suggest

    nodes = graph_nodes(phases)
    problems: list[ConfigProblem] = []

    def problem(message: str, hint: str, *path: object) -> None:
        key = ".".join(str(p) for p in ("routes", *path))
        problems.append(ConfigProblem(file, f"{where}: {message}", line("routes", *path), entry, key, hint))

    for after, listed in routes.items():
        if after not in ROUTED_PHASES or after not in phases:
            guess = suggest(after, [p for p in ROUTED_PHASES if p in phases])
            problem(f"routes after unknown node '{after}'", f"did you mean '{guess}'?" if guess else
                    "routes follow the transform phase: list them under 'transform:'", after)
            continue
        seen: set[str] = set()
        for i, route in enumerate(listed):
            when = " ".join(route.when.split())
            if route.goto not in nodes:
                guess = suggest(route.goto, nodes)
                problem(f"route to unknown node '{route.goto}'",
                        f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(nodes)}", after, i, "goto")
            elif route.goto in PHASE_NODES and route.max is None:
                problem(f"route back to '{route.goto}' loops without 'max'",
                        "add 'max: 1' (then the item is quarantined if it still matches)", after, i, "max")
            if when in seen:
                problem(f"route {i + 1} after '{after}' is unreachable: an earlier route has the same condition "
                        f"'{when}' (the first match wins)", "remove it, or change its condition", after, i, "when")
            seen.add(when)
            if when != INVALID:
                try:
                    parse_condition(when, [*fields, *ROUTE_FIELDS])
                except ConditionError as exc:
                    problem(f"route condition: {exc}",
                            "use 'invalid', 'confidence', 'item_id' or a field of the schema", after, i, "when")
    return problems
