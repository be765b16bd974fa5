"""The crew's YAML schema as pydantic models, and the check of what a model produced against it.

The record model is both the structured-output schema sent to the model (llama.cpp turns its JSON schema into a
grammar, so it is kept flat and small: no ``$ref``, no titles) and the validator of the output. Valid records
come out JSON-safe: dates and datetimes as ISO 8601 strings, so they can be stored, hashed and compared as-is.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from etlcrew.pipeline.checks import decided_fields, with_values
from etlcrew.specs.datapath import FieldSpec, SchemaSpec

_SCALARS: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "date": dt.date,
    "datetime": dt.datetime,
}
_NO_RECORD = "no record produced"
# written first when the schema asks for reasoning: a small model that says what an item is about before it
# picks values picks better (measured with `eval`); it is checked like a field, then kept out of the record
REASON_FIELD = "reasoning"
REASON_MAX = 100


@dataclass(frozen=True)
class QuarantineRow:
    """An item that produced no valid record: kept with its input and the model's output so it can be fixed."""

    item_id: str
    source: str
    reason: str
    raw_input: str | None = None
    raw_model_output: str | None = None


class _FlatSchemaModel(BaseModel):
    """Base whose JSON schema has nested models inlined and titles dropped: small grammars for small models."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return flatten_json_schema(super().model_json_schema(*args, **kwargs))


def _ask_checks(json_schema: dict[str, Any], cls: type) -> None:
    """The JSON schema the model fills: each decided field's checks (booleans) in place of the field."""
    decided = decided_fields(cls.schema_spec) if getattr(cls, "schema_spec", None) else {}
    if not decided or "properties" not in json_schema:
        return
    properties: dict[str, Any] = {}
    for name, prop in json_schema["properties"].items():
        if name in decided:
            properties |= {check: {"type": "boolean"} for check in decided[name].checks}
        else:
            properties[name] = prop
    json_schema["properties"] = properties
    json_schema["required"] = [k for name in json_schema.get("required", [])
                               for k in (decided[name].checks if name in decided else [name])]


class RecordBase(_FlatSchemaModel):
    """Every record model derives from this; ``item_id`` ties the record to the item it was made from.

    A field with ``checks`` is asked as yes/no answers and validated as its value (``pipeline.checks``).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ask_checks)
    adds_reasoning: ClassVar[bool] = False  # the model writes REASON_FIELD first; it is not part of the record
    schema_spec: ClassVar[SchemaSpec | None] = None

    @model_validator(mode="before")
    @classmethod
    def _answers_to_values(cls, data: Any) -> Any:
        return with_values(data, cls.schema_spec) if isinstance(data, dict) and cls.schema_spec else data


class BatchBase(_FlatSchemaModel):
    """Every batch model derives from this; ``record_model`` is the model of one record."""

    record_model: ClassVar[type[RecordBase]]


def flatten_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline local ``$defs`` references and drop ``title`` keys (never a property that is *named* title)."""
    defs = schema.get("$defs", {})

    def walk(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        if in_properties:
            return {k: walk(v) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return walk({**defs[ref.removeprefix("#/$defs/")], **extra})
        return {k: walk(v, in_properties=(k == "properties")) for k, v in node.items()
                if k not in ("$defs", "title")}

    return walk(schema)


def _annotation(spec: FieldSpec) -> Any:
    if spec.type == "enum":
        return Literal[tuple(spec.values or ())]
    if spec.type == "list":
        return list[_SCALARS[spec.items]]
    return _SCALARS[spec.type]


# Unbounded strings let a small model run on until its context is full (the JSON is then cut and invalid);
# with a maxLength the llama.cpp grammar ends every string. YAML ``max`` overrides these.
DEFAULT_STRING_MAX = 120
DEFAULT_LIST_MAX = 20


def _constraints(spec: FieldSpec) -> dict[str, Any]:
    """``min``/``max`` bound the value of numbers, the length of strings and the item count of lists."""
    out: dict[str, Any] = {}
    if spec.type in ("integer", "number"):
        cast = int if spec.type == "integer" else float
        if spec.min is not None:
            out["ge"] = cast(spec.min) if cast is float or spec.min.is_integer() else spec.min
        if spec.max is not None:
            out["le"] = cast(spec.max) if cast is float or spec.max.is_integer() else spec.max
    elif spec.type in ("string", "list"):
        if spec.min is not None:
            out["min_length"] = int(spec.min)
        default_max = DEFAULT_STRING_MAX if spec.type == "string" else DEFAULT_LIST_MAX
        out["max_length"] = int(spec.max) if spec.max is not None else default_max
    if spec.pattern and spec.type == "string":
        out["pattern"] = spec.pattern
    if spec.description:
        out["description"] = spec.description
    return out


_MODELS: dict[str, tuple[type[RecordBase], type[BatchBase]]] = {}


def _model_name(table: str) -> str:
    return "".join(part.capitalize() for part in table.split("_") if part) or "Record"


def _build(schema: SchemaSpec) -> tuple[type[RecordBase], type[BatchBase]]:
    key = schema.model_dump_json()
    if key not in _MODELS:
        fields: dict[str, Any] = {"item_id": (str, Field(description="the item_id of the input item"))}
        if schema.reasoning and REASON_FIELD not in schema.fields:
            fields[REASON_FIELD] = (str, Field(max_length=REASON_MAX, description="what the item is about"))
        for name, spec in schema.fields.items():
            if name == "item_id":
                continue
            annotation, constraints = _annotation(spec), _constraints(spec)
            if spec.required:
                fields[name] = (annotation, Field(**constraints))
            else:
                fields[name] = (annotation | None, Field(default=None, **constraints))
        name = _model_name(schema.table)
        record = create_model(f"{name}Record", __base__=RecordBase, **fields)
        record.adds_reasoning = REASON_FIELD in fields and REASON_FIELD not in schema.fields
        record.schema_spec = schema if decided_fields(schema) else None
        batch = create_model(f"{name}Batch", __base__=BatchBase,
                             records=(list[record], Field(description="one record per input item")))
        batch.record_model = record
        _MODELS[key] = (record, batch)
    return _MODELS[key]


def record_model(schema: SchemaSpec) -> type[RecordBase]:
    """The pydantic model of one record: ``item_id`` first, then the schema's fields in order (cached)."""
    return _build(schema)[0]


def batch_model(schema: SchemaSpec) -> type[BatchBase]:
    """The ``output_pydantic`` of a transform task: ``{"records": [record, ...]}`` (cached)."""
    return _build(schema)[1]


@dataclass
class BatchValidation:
    """What a batch's output gave: valid records and, for every other item, why not.

    ``valid`` and ``errors`` are keyed by item_id in the order the items were given; ``rejected`` holds records
    that cannot belong to any item (unknown or missing item_id); ``problems`` are batch-level (not JSON, ...).
    """

    valid: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    rejected: list[tuple[str | None, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.rejected and not self.problems

    def reason(self, item_id: str) -> str | None:
        """One line saying why the item has no valid record, or ``None`` if it has one."""
        return "; ".join(self.errors[item_id]) if item_id in self.errors else None


_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


def _parse_text(text: str) -> Any:
    """JSON from model text: bare, inside a ``` fence, or the outermost {...}/[...] of chatty output."""
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("model output is not JSON")


def candidate_records(raw: Any) -> list[Any]:
    """The record-like objects in a model output (instance, dict, list or JSON text); raises ValueError."""
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(mode="json")
    if isinstance(raw, (str, bytes)):
        raw = _parse_text(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
    if isinstance(raw, dict):
        if "records" in raw and isinstance(raw["records"], list):
            return raw["records"]
        if "item_id" in raw:
            return [raw]
        raise ValueError("model output has no 'records' list")
    if isinstance(raw, list):
        return raw
    raise ValueError(f"model output is a {type(raw).__name__}, not records")


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())) or "record"
    if error.get("type") == "missing":
        return f"{where}: required field is missing"
    if error.get("type") == "extra_forbidden":
        return f"{where}: unknown field"
    if error.get("type") == "value_error" and where == "record":  # raised by a record validator: says it all
        return str(error.get("msg", "invalid")).removeprefix("Value error, ")
    given = error.get("input")
    shown = json.dumps(given, default=str)[:80] if not isinstance(given, dict) else "{...}"
    return f"{where}: {error.get('msg', 'invalid')} (got {shown})"


def validate_batch(raw: Any, item_ids: list[str], model: type[BaseModel]) -> BatchValidation:
    """Check a batch's output (model instance, dict, list or JSON text) against the record model; no I/O.

    ``model`` may be the record model or the batch model. Per item: the first valid record wins; an item with
    no valid record gets its validation messages, or "no record produced" when nothing named it.
    """
    record = getattr(model, "record_model", model)
    result = BatchValidation()
    wanted = set(item_ids)
    found: dict[str, dict[str, Any]] = {}
    messages: dict[str, list[str]] = {}
    try:
        candidates = candidate_records(raw)
    except ValueError as exc:
        result.problems.append(str(exc))
        candidates = []
    for candidate in candidates:
        if not isinstance(candidate, dict):
            result.rejected.append((None, f"record is a {type(candidate).__name__}, not an object"))
            continue
        item_id = candidate.get("item_id")
        if isinstance(item_id, int | float) and not isinstance(item_id, bool):
            item_id = str(item_id)  # still must name a known item, and fails validation as a non-string
        if not isinstance(item_id, str) or not item_id:
            result.rejected.append((None, "record without item_id"))
            continue
        if item_id not in wanted:
            result.rejected.append((item_id, f"record for unknown item_id {item_id}"))
            continue
        if item_id in found:
            continue
        try:
            found[item_id] = record.model_validate(candidate).model_dump(mode="json")
            if getattr(record, "adds_reasoning", False):
                result.reasons[item_id] = str(found[item_id].pop(REASON_FIELD) or "")
        except ValidationError as exc:
            messages.setdefault(item_id, []).extend(_describe(e) for e in exc.errors())
    for item_id in item_ids:
        if item_id in found:
            result.valid[item_id] = found[item_id]
        else:
            result.errors[item_id] = messages.get(item_id) or [_NO_RECORD]
    return result
