"""Schema → pydantic model, and validation of a batch's model output."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from etlcrew.pipeline.records import batch_model, record_model, validate_batch
from etlcrew.specs.datapath import SchemaSpec

SCHEMA = SchemaSpec(table="support_tickets", fields={
    "category": {"type": "enum", "values": ["billing", "bug", "other"], "description": "what it is about"},
    "urgency": {"type": "enum", "values": ["low", "urgent"]},
    "summary": {"type": "string", "min": 3, "max": 40},
    "code": {"type": "string", "pattern": r"^[A-Z]{2}-\d+$", "required": False},
    "count": {"type": "integer", "min": 0, "max": 10, "required": False},
    "score": {"type": "number", "min": 0, "max": 1, "required": False},
    "spam": {"type": "boolean", "required": False},
    "due": {"type": "date", "required": False},
    "seen_at": {"type": "datetime", "required": False},
    "tags": {"type": "list", "items": "string", "required": False},
    "sizes": {"type": "list", "items": "integer", "required": False},
})
IDS = ["mail:1", "mail:2", "mail:3"]


def good(item_id: str = "mail:1", **extra: object) -> dict:
    return {"item_id": item_id, "category": "bug", "urgency": "low", "summary": "app crashes"} | extra


def test_model_fields_in_order_item_id_first():
    model = record_model(SCHEMA)
    assert list(model.model_fields) == ["item_id", *SCHEMA.fields]
    assert model.model_fields["item_id"].is_required()
    assert model.model_fields["category"].is_required()
    assert not model.model_fields["code"].is_required()


def test_model_is_cached_per_schema():
    assert record_model(SCHEMA) is record_model(SCHEMA.model_copy())
    assert batch_model(SCHEMA).record_model is record_model(SCHEMA)
    other = SchemaSpec(table="support_tickets", fields={"x": {}})
    assert record_model(other) is not record_model(SCHEMA)


def test_every_field_type_validates_and_dumps_json_safe():
    model = record_model(SCHEMA)
    record = model.model_validate(good(code="AB-12", count=3, score=0.5, spam=False, due="2024-02-29",
                                       seen_at="2024-02-29T10:00:00Z", tags=["a", "b"], sizes=[1, 2]))
    dumped = record.model_dump(mode="json")
    assert dumped["due"] == "2024-02-29"
    assert dumped["seen_at"] == "2024-02-29T10:00:00Z"
    assert dumped["sizes"] == [1, 2] and dumped["tags"] == ["a", "b"]
    json.dumps(dumped)


@pytest.mark.parametrize(("change", "field"), [
    ({"category": "sales"}, "category"),
    ({"summary": "ab"}, "summary"),
    ({"summary": "x" * 41}, "summary"),
    ({"code": "ab-1"}, "code"),
    ({"count": 11}, "count"),
    ({"count": -1}, "count"),
    ({"score": 1.5}, "score"),
    ({"due": "not a date"}, "due"),
    ({"sizes": ["x"]}, "sizes"),
    ({"surprise": 1}, "surprise"),
])
def test_constraints_reject(change, field):
    with pytest.raises(ValidationError) as info:
        record_model(SCHEMA).model_validate(good(**change))
    assert info.value.errors()[0]["loc"][0] == field


def test_json_schema_is_flat_and_has_enums():
    schema = batch_model(SCHEMA).model_json_schema()
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text and '"title"' not in text
    item = schema["properties"]["records"]["items"]
    assert item["additionalProperties"] is False
    assert item["required"] == ["item_id", "category", "urgency", "summary"]
    props = item["properties"]
    assert props["category"]["enum"] == ["billing", "bug", "other"]
    assert props["category"]["description"] == "what it is about"
    assert props["summary"]["minLength"] == 3 and props["summary"]["maxLength"] == 40
    assert props["code"]["anyOf"][0]["pattern"] == r"^[A-Z]{2}-\d+$"
    assert props["count"]["anyOf"][0] == {"maximum": 10, "minimum": 0, "type": "integer"}
    assert props["sizes"]["anyOf"][0] == {"items": {"type": "integer"}, "type": "array", "maxItems": 20}


def test_strings_without_max_get_a_default_bound():
    schema = SchemaSpec(table="t", fields={"note": {"type": "string"}})
    props = batch_model(schema).model_json_schema()["properties"]["records"]["items"]["properties"]
    assert props["note"]["maxLength"] == 120, "a grammar must end every string, or a small model runs on"


def test_a_field_named_title_survives_title_stripping():
    schema = SchemaSpec(table="t", fields={"title": {"type": "string"}})
    props = batch_model(schema).model_json_schema()["properties"]["records"]["items"]["properties"]
    assert "title" in props


def test_validate_good_batch_from_model_instance():
    batch = batch_model(SCHEMA).model_validate({"records": [good(i) for i in IDS]})
    result = validate_batch(batch, IDS, batch_model(SCHEMA))
    assert result.ok
    assert list(result.valid) == IDS
    assert result.valid["mail:2"]["code"] is None


def test_validate_reports_wrong_enum_and_missing_field_by_name():
    raw = {"records": [good("mail:1", category="sales"), {"item_id": "mail:2", "category": "bug"}, good("mail:3")]}
    result = validate_batch(raw, IDS, record_model(SCHEMA))
    assert list(result.valid) == ["mail:3"]
    assert "category" in result.reason("mail:1") and "'billing'" in result.reason("mail:1")
    assert result.errors["mail:2"] == ["urgency: required field is missing", "summary: required field is missing"]


def test_unknown_duplicate_and_missing_ids():
    raw = [good("mail:1", category="nope"), good("mail:1", summary="first valid"), good("mail:1", summary="later"),
           good("evil:9"), {"category": "bug"}, "text"]
    result = validate_batch(raw, IDS, batch_model(SCHEMA))
    assert result.valid == {"mail:1": record_model(SCHEMA).model_validate(
        good("mail:1", summary="first valid")).model_dump(mode="json")}
    assert result.errors == {"mail:2": ["no record produced"], "mail:3": ["no record produced"]}
    assert ("evil:9", "record for unknown item_id evil:9") in result.rejected
    assert (None, "record without item_id") in result.rejected
    assert (None, "record is a str, not an object") in result.rejected
    assert not result.ok


def test_fenced_json_string_and_single_record():
    text = "Here you go:\n```json\n" + json.dumps({"records": [good("mail:1")]}) + "\n```\nDone."
    assert list(validate_batch(text, ["mail:1"], batch_model(SCHEMA)).valid) == ["mail:1"]
    single = json.dumps(good("mail:2"))
    assert list(validate_batch(single, ["mail:2"], batch_model(SCHEMA)).valid) == ["mail:2"]
    chatty = "Sure! " + json.dumps([good("mail:3")]) + " hope this helps"
    assert list(validate_batch(chatty, ["mail:3"], batch_model(SCHEMA)).valid) == ["mail:3"]


@pytest.mark.parametrize("raw", ["I cannot do that", "```json\n{oops\n```", "", 42, {"data": []}])
def test_garbage_output_fails_every_item_without_raising(raw):
    result = validate_batch(raw, IDS, batch_model(SCHEMA))
    assert result.valid == {}
    assert result.problems and set(result.errors) == set(IDS)
    assert all(msgs == ["no record produced"] for msgs in result.errors.values())
