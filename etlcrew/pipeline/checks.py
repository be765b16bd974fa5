"""Enum fields decided by yes/no questions: the model answers each check, code takes the first yes.

Why: asked for an urgency level, Qwen2.5-Coder-1.5B ranks the third option first for almost every problem,
whatever the levels are called; asked "is there a safety risk?", "is the customer locked out?", "is something
broken?" one by one, it answers them well, and the first yes in order gives the level (README, Record quality:
`eval` on the inbox labels, urgency 0.40-0.47 -> 0.83, sentiment 0.67-0.70 -> 0.77-0.80). The model decides,
code executes: the mapping from answers to a value is fixed in the crew's YAML (``checks:``, ``otherwise:``).

The answers travel in the record the model writes (one boolean per check, where the field would be), are turned
into the field's value before validation and are not stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from etlcrew.specs.datapath import FieldSpec, SchemaSpec


def decided_fields(schema: SchemaSpec) -> dict[str, FieldSpec]:
    """The schema's fields whose value comes from checks, in schema order."""
    return {name: spec for name, spec in schema.fields.items() if spec.checks}


def decide(spec: FieldSpec, answers: Mapping[str, Any]) -> str:
    """The value of the first check answered yes (``True``), in order; ``otherwise`` when none is."""
    return next((check.value for name, check in spec.checks.items() if answers.get(name) is True),
                str(spec.otherwise))


def answers_for(spec: FieldSpec, value: str) -> dict[str, bool]:
    """The answers that give ``value``: no to each check before the first that gives it, yes to that one.

    Checks after the deciding one cannot change the value, so they are left out (an example shows only these).
    """
    out: dict[str, bool] = {}
    for name, check in spec.checks.items():
        out[name] = check.value == value
        if out[name]:
            break
    return out


def with_values(candidate: dict[str, Any], schema: SchemaSpec) -> dict[str, Any]:
    """The candidate record with each decided field's value in place of its check answers.

    An answer that is not a boolean raises ``ValueError`` naming the check (pydantic reports it). A record that
    gives the field itself is taken as written, still checked against the enum: a model answering without the checks
    (a scripted one, or a provider that ignores the grammar) is judged on its value, not dropped.
    """
    out = dict(candidate)
    for field, spec in decided_fields(schema).items():
        answers = {name: out.pop(name, None) for name in spec.checks}
        if field in out:
            continue
        wrong = {name: answer for name, answer in answers.items() if not isinstance(answer, bool)}
        if wrong:
            raise ValueError("; ".join(f"{name}: answer true or false (got {json.dumps(answer)})"
                                       for name, answer in wrong.items()) + f" (they decide '{field}')")
        out[field] = decide(spec, answers)
    return out


def decided_confidence(schema: SchemaSpec, record: Mapping[str, Any], probabilities: Mapping[str, float]
                       ) -> dict[str, float]:
    """A decided field's confidence: the product of the probabilities of the answers that led to its value.

    Those are the answers up to the deciding yes (all of them when no check said yes); answers after it cannot
    change the value. Fields whose answers carry no probability get none.
    """
    out: dict[str, float] = {}
    for field, spec in decided_fields(schema).items():
        used = list(answers_for(spec, str(record.get(field))))
        if used and all(name in probabilities for name in used):
            out[field] = round(math.prod(probabilities[name] for name in used), 4)
    return out


def describe_checks(spec: FieldSpec) -> list[str]:
    """The prompt lines for a decided field: one per check, in order. The field itself, its values and their notes
    are not shown: the model is asked only the questions (the notes still document the values for people)."""
    return [f"- {check}: true or false: {question.ask}" for check, question in spec.checks.items()]
