"""``validate``'s check of a crew's ``actions: {when: ...}``: the rule parses, and names only the record's fields.

The rule is the same condition language as a webhook's ``when`` (``pipeline.targets.conditions``); a value that is
not one of an enum field's values can never match, so it is an error too (a typo would silently act on nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from etlcrew.errors import ConfigProblem
from etlcrew.specs.did_you_mean import suggest
from etlcrew.specs.models import CrewSpec

Problem = Callable[[str, tuple[object, ...], str], ConfigProblem]
EXAMPLE = "when: \"urgency in ['urgent', 'high']\""


def check_actions(crew: CrewSpec, problem: Problem) -> list[ConfigProblem]:
    """The problems of ``crew.actions.when`` (none when it has no rule)."""
    from etlcrew.pipeline.targets.conditions import ConditionError, literals_by_field, parse_condition

    rule = crew.actions.when
    if not rule:
        return []
    path = ("actions", "when")
    schema = crew.output_schema
    if schema is None:
        return [problem("actions: a rule needs the crew's schema (its records' fields)", path,
                        "add a 'schema:' or remove 'actions: when'")]
    fields = {"item_id", *schema.fields}
    try:
        parse_condition(rule, fields)
    except ConditionError as exc:
        why = str(exc).replace("unexpected", "cannot read", 1)  # "unexpected" reads as a crash of etlcrew
        return [problem(f"actions: when: {why}", path, f"write a condition on the record's fields, e.g. {EXAMPLE}")]
    problems = []
    for name, values in literals_by_field(rule).items():
        spec = schema.fields.get(name)
        if spec is None or spec.type != "enum":
            continue
        allowed = [str(v) for v in spec.values or []]
        for value in values:
            if str(value) not in allowed:
                guess = suggest(str(value), allowed)
                hint = f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(allowed)}"
                problems.append(problem(f"actions: when: {value!r} is not a value of field '{name}'", path, hint))
    return problems
