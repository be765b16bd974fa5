"""Enum fields decided by yes/no checks: what the model is asked, how its answers become the value, and how sure
the product says it was."""

from __future__ import annotations

import json

import pytest

from etlcrew.model_runtime.confidence import value_probabilities
from etlcrew.pipeline.batches import batch_output_model, describe_schema
from etlcrew.pipeline.checks import answers_for, decide, decided_confidence
from etlcrew.pipeline.records import validate_batch
from etlcrew.specs.datapath import SchemaSpec

SCHEMA = SchemaSpec(table="t", reasoning=True, fields={
    "urgency": {"type": "enum", "description": "how fast", "values": ["low", "medium", "urgent"],
                "checks": {"risk": {"value": "urgent", "ask": "a safety risk?"},
                           "broken": {"value": "medium", "ask": "is something broken?"}},
                "otherwise": "low"},
    "summary": {"type": "string"},
}, examples=[{"text": "Smoke!", "values": {"urgency": "urgent"}},
             {"text": "The app crashes.", "values": {"urgency": "medium"}},
             {"text": "Nice work.", "values": {"urgency": "low"}}])
URGENCY = SCHEMA.fields["urgency"]


@pytest.mark.parametrize(("risk", "broken", "value"), [
    (True, True, "urgent"), (True, False, "urgent"), (False, True, "medium"), (False, False, "low")])
def test_the_first_yes_in_order_gives_the_value(risk: bool, broken: bool, value: str) -> None:
    assert decide(URGENCY, {"risk": risk, "broken": broken}) == value


def test_the_model_is_asked_the_checks_in_place_of_the_field() -> None:
    record = batch_output_model(SCHEMA, ["s:1"]).model_json_schema()["properties"]["records"]["prefixItems"][0]
    assert list(record["properties"]) == ["item_id", "reasoning", "risk", "broken", "summary"]
    assert record["properties"]["risk"] == {"type": "boolean"}
    assert record["required"] == ["item_id", "reasoning", "risk", "broken", "summary"]
    text = describe_schema(SCHEMA)
    assert "- risk: true or false: a safety risk?\n- broken: true or false: is something broken?\n" in text
    assert "urgency" not in text
    # examples show the answers that give their value, up to the deciding yes
    assert '"Smoke!" -> risk: true\n' in text
    assert '"The app crashes." -> risk: false; broken: true\n' in text
    assert text.endswith('"Nice work." -> risk: false; broken: false')


def test_answers_become_the_value_and_are_not_stored() -> None:
    model = batch_output_model(SCHEMA, ["s:1", "s:2"])
    checked = validate_batch(json.dumps({"records": [
        {"item_id": "s:1", "reasoning": "fire", "risk": True, "broken": True, "summary": "smoke"},
        {"item_id": "s:2", "reasoning": "thanks", "risk": False, "broken": False, "summary": "praise"},
    ]}), ["s:1", "s:2"], model)
    assert checked.valid == {"s:1": {"item_id": "s:1", "urgency": "urgent", "summary": "smoke"},
                             "s:2": {"item_id": "s:2", "urgency": "low", "summary": "praise"}}


def test_a_record_giving_the_value_itself_is_checked_against_the_enum() -> None:
    model = batch_output_model(SCHEMA, ["s:1", "s:2"])
    checked = validate_batch({"records": [
        {"item_id": "s:1", "reasoning": "r", "urgency": "medium", "risk": True, "summary": "x"},
        {"item_id": "s:2", "reasoning": "r", "urgency": "apocalyptic", "summary": "y"},
    ]}, ["s:1", "s:2"], model)
    assert checked.valid["s:1"]["urgency"] == "medium"  # as written; the stray answer is dropped
    assert "s:2" in checked.errors and "urgency" in checked.errors["s:2"][0]


def test_an_answer_that_is_not_true_or_false_names_the_check() -> None:
    model = batch_output_model(SCHEMA, ["s:1"])
    checked = validate_batch({"records": [{"item_id": "s:1", "reasoning": "r", "risk": "no", "summary": "x"}]},
                             ["s:1"], model)
    assert checked.errors["s:1"] == ['risk: answer true or false (got "no"); broken: answer true or false (got null)'
                                     " (they decide 'urgency')"]


def test_confidence_is_the_product_of_the_answers_up_to_the_deciding_one() -> None:
    probabilities = {"risk": 0.9, "broken": 0.5}
    assert decided_confidence(SCHEMA, {"urgency": "urgent"}, probabilities) == {"urgency": 0.9}
    assert decided_confidence(SCHEMA, {"urgency": "medium"}, probabilities) == {"urgency": 0.45}
    assert decided_confidence(SCHEMA, {"urgency": "low"}, probabilities) == {"urgency": 0.45}
    assert decided_confidence(SCHEMA, {"urgency": "medium"}, {"risk": 0.9}) == {}  # an answer without logprobs
    assert answers_for(URGENCY, "medium") == {"risk": False, "broken": True}


def test_yes_no_answers_carry_their_probability_from_logprobs() -> None:
    pieces = [('{"item_id": "s:1", "risk": ', -0.01), ("false", -0.105), (', "broken": ', 0.0), ("true", -0.693147),
              (', "summary": "', 0.0), ("x", -2.0), ('"}', 0.0)]
    tokens = [{"token": t, "logprob": lp} for t, lp in pieces]
    assert value_probabilities(tokens) == {"s:1": {"risk": 0.9003, "broken": 0.5, "summary": 0.1353}}
