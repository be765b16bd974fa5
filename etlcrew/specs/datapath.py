"""Schemas for a crew's data path: the sources it reads, the record schema it produces, the targets it loads.

Relative paths are relative to the project directory. Each source and target has a ``type`` that selects its
keys, so a ``files`` source with a ``url`` key is an error rather than a silently ignored value.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _SourceBase(_Strict):
    name: str = Field(description="letters, digits, '_' and '-' (checked in specs.names)")
    max_bytes: int = Field(default=200_000, ge=1, description="larger items are quarantined, or truncated")
    truncate: bool = Field(default=False, description="cut oversized text to max_bytes instead of quarantining")


class FilesSource(_SourceBase):
    """Files under a folder: one item per file, or per row/record for csv, json and jsonl."""

    type: Literal["files"]
    path: str
    patterns: list[str] = Field(default_factory=lambda: ["*"])
    recursive: bool = False
    encoding: str = "utf-8"
    key: str | None = Field(default=None, description="row field used as natural key (csv/json/jsonl)")


class SqlSource(_SourceBase):
    """Rows of one SELECT over a read-only SQLAlchemy connection."""

    type: Literal["sql"]
    url: str
    query: str
    key: str | None = Field(default=None, description="column used as natural key (default: row number)")


class Pagination(_Strict):
    """``page``: a page-number query parameter; ``next``: a URL found at ``next_path`` in each response."""

    type: Literal["page", "next"] = "page"
    param: str = "page"
    start: int = 1
    next_path: str = "next"
    max_pages: int = Field(default=100, ge=1)


class HttpSource(_SourceBase):
    """Records of a JSON API, found at ``records_path`` (dotted) in each response."""

    type: Literal["http"]
    url: str
    records_path: str = ""
    key: str | None = None
    pagination: Pagination | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="sent with each request; write secrets as "
                                    "${NAME}, read from the environment or .env (specs.env_refs)")
    timeout_s: float = Field(default=10.0, gt=0)


SourceSpec = Annotated[FilesSource | SqlSource | HttpSource, Field(discriminator="type")]

_CHECK_NAME = re.compile(r"[a-z][a-z0-9_]*")
FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime", "enum", "list"]


class CheckSpec(_Strict):
    """A yes/no question the model answers for an enum field; a yes gives ``value`` (see ``FieldSpec.checks``)."""

    value: str = Field(description="the enum value a yes gives")
    ask: str = Field(min_length=1, description="the question, as the model sees it")


class FieldSpec(_Strict):
    """One field of the output schema; becomes a pydantic field for structured output and validation.

    An enum's ``values`` is a list, or a mapping of value -> one-line description: the prompt shows the
    descriptions, which is what lets a small model tell ``bug`` from ``other`` (see README, Records).
    """

    type: FieldType = "string"
    required: bool = True
    description: str = ""
    values: list[str] | None = Field(default=None, description="allowed values of an enum")
    value_notes: dict[str, str] = Field(default_factory=dict, description="enum value -> its description")
    items: Literal["string", "integer", "number", "boolean"] = "string"
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    checks: dict[str, CheckSpec] = Field(default_factory=dict, description="enum only: yes/no questions the model "
                                         "answers in place of the value; the first yes, in order, gives the value")
    otherwise: str | None = Field(default=None, description="the value when no check is answered yes")

    @model_validator(mode="before")
    @classmethod
    def _values_with_notes(cls, data: object) -> object:
        """``values: {billing: "charges, refunds"}`` becomes the list of values plus their notes."""
        if isinstance(data, dict) and isinstance(data.get("values"), dict):
            notes = {str(k): "" if v is None else str(v).strip() for k, v in data["values"].items()}
            data = dict(data) | {"values": list(notes), "value_notes": {k: v for k, v in notes.items() if v}}
        return data

    @model_validator(mode="after")
    def _enum_has_values(self) -> FieldSpec:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs 'values', e.g. values: [low, high]")
        return self

    @model_validator(mode="after")
    def _checks_give_values(self) -> FieldSpec:
        if not self.checks:
            if self.otherwise is not None:
                raise ValueError("'otherwise' is the value when no check says yes: add 'checks' or remove it")
            return self
        if self.type != "enum":
            raise ValueError("'checks' decide an enum's value: set type: enum, or remove 'checks'")
        allowed = ", ".join(self.values or [])
        for name, check in self.checks.items():
            if not _CHECK_NAME.fullmatch(name):
                raise ValueError(f"check '{name}': name it with lower-case letters, digits and '_' (a JSON key)")
            if check.value not in (self.values or []):
                raise ValueError(f"check '{name}' gives '{check.value}', which is not one of {allowed}")
        if self.otherwise not in (self.values or []):
            raise ValueError(f"'otherwise' (the value when no check says yes) must be one of {allowed}"
                             + ("" if self.otherwise is None else f", not '{self.otherwise}'"))
        return self


class ExampleSpec(_Strict):
    """A short made-up item and the values it should get: shown to the model with the fields (few-shot).

    Write examples of your labelling policy, not copies of items you evaluate on: ``eval`` would then
    measure memory, not the crew.
    """

    text: str = Field(min_length=1, max_length=600)
    values: dict[str, str | int | float | bool] = Field(min_length=1)


class ReviewExamplesSpec(_Strict):
    """Reviewed items as few-shot examples: up to ``max`` rows of ``data/<crew>_reviewed.csv``, the text read
    from the item (``pipeline.review_examples``)."""

    max: int = Field(ge=1, le=20, description="how many reviewed items to show as examples")


class SchemaSpec(_Strict):
    """The records a crew produces: a table name, typed fields and the primary key (``item_id`` by default)."""

    table: str = Field(description="stored as written: lower-case letters, digits, '_' (checked in specs.names)")
    primary_key: list[str] = Field(default_factory=lambda: ["item_id"])
    fields: dict[str, FieldSpec] = Field(min_length=1)
    examples: list[ExampleSpec] = Field(default_factory=list, max_length=20)
    examples_from_reviews: ReviewExamplesSpec | None = None
    reasoning: bool | str = Field(default=False, description="the model first writes one sentence on what the item "
                                  "is about (not stored): measured to help small models pick enum values; a text "
                                  "says what the sentence should weigh")

    @property
    def reasoning_prompt(self) -> str:
        """What the model is asked to write first (``reasoning: true``: what the item is about)."""
        if isinstance(self.reasoning, str) and self.reasoning.strip():
            return " ".join(self.reasoning.split())
        return "one short sentence on what the item is about"

    @model_validator(mode="before")
    @classmethod
    def _key_as_list(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("primary_key"), str):
            data = dict(data) | {"primary_key": [data["primary_key"]]}
        return data

    @model_validator(mode="after")
    def _key_is_a_field(self) -> SchemaSpec:
        missing = [k for k in self.primary_key if k != "item_id" and k not in self.fields]
        if missing:
            raise ValueError(f"primary_key names {', '.join(map(repr, missing))}, which "
                             f"{'is not a field' if len(missing) == 1 else 'are not fields'} "
                             f"(fields: {', '.join(self.fields)})")
        return self

    @model_validator(mode="after")
    def _check_names_are_free(self) -> SchemaSpec:
        """The model writes each check's answer under its name, next to the fields: names must not collide."""
        taken = {"item_id", "reasoning", *self.fields}  # reasoning: pipeline.records.REASON_FIELD
        for name, spec in self.fields.items():
            for check in spec.checks:
                if check in taken:
                    raise ValueError(f"field '{name}': check '{check}' has the name of a field or of another "
                                     "check; give it its own name")
                taken.add(check)
        return self

    @model_validator(mode="after")
    def _examples_fit(self) -> SchemaSpec:
        if self.examples_from_reviews and len(self.examples) + self.examples_from_reviews.max > 20:
            raise ValueError(f"examples ({len(self.examples)}) and examples_from_reviews max "
                             f"({self.examples_from_reviews.max}) make more than 20 examples: lower max")
        for n, example in enumerate(self.examples, 1):
            for name, value in example.values.items():
                if name not in self.fields:
                    raise ValueError(f"example {n} gives '{name}', which is not a field (fields: "
                                     f"{', '.join(self.fields)})")
                spec = self.fields[name]
                if spec.type == "enum" and str(value) not in (spec.values or []):
                    raise ValueError(f"example {n}: '{value}' is not one of {', '.join(spec.values or [])} "
                                     f"(field '{name}')")
        return self


class DatabaseTarget(_Strict):
    """A dlt destination: ``duckdb`` (default ``output/<crew>.duckdb``), ``sqlite``, or any dlt name."""

    type: Literal["duckdb", "sqlite", "dlt"]
    path: str | None = None
    destination: str | None = Field(default=None, description="dlt destination name when type is dlt")
    dataset: str = "etlcrew"


class FileTarget(_Strict):
    """Records written as JSON lines or Parquet, merged on the primary key."""

    type: Literal["jsonl", "parquet"]
    path: str | None = None


class ReportTarget(_Strict):
    """A Markdown report: deterministic counts plus the publisher's digest."""

    type: Literal["report"]
    path: str | None = None


ActionItems = Literal["records", "actions"]


class WebhookTarget(_Strict):
    """POST each record matching ``when`` (e.g. ``urgency == 'urgent'``) with an idempotency key, through the
    ledger's outbox (``pipeline.outbox``); ``items: actions`` posts the run's action items instead."""

    type: Literal["webhook"]
    url: str
    items: ActionItems = Field(default="records", description="records: every landed record (matching when); "
                               "actions: the run's action items (matching when)")
    when: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="sent with each POST, e.g. Authorization: "
                                    "'Bearer ${HOOK_TOKEN}' with HOOK_TOKEN in the environment or .env")
    enabled: bool = True
    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10, description="tries within one run, with backoff")
    max_runs: int = Field(default=3, ge=1, le=100, description="runs (or resumes) that try a failed delivery "
                          "before it is given up")


class NotifyTarget(_Strict):
    """One notice per action item: a JSON line appended to ``path`` (default ``output/<crew>-actions.jsonl``) or
    a call of the tool ``tool`` from ``tools/``; once per item and content, through the ledger's outbox."""

    type: Literal["notify"]
    path: str | None = None
    tool: str | None = None
    items: ActionItems = Field(default="actions", description="actions: the run's action items; records: "
                               "every landed record; either narrowed by when")
    when: str | None = None
    enabled: bool = True
    max_attempts: int = Field(default=3, ge=1, le=10, description="tries within one run, with backoff")
    max_runs: int = Field(default=3, ge=1, le=100, description="runs (or resumes) that try a failed delivery "
                          "before it is given up")

    @model_validator(mode="after")
    def _path_or_tool(self) -> NotifyTarget:
        if self.path and self.tool:
            raise ValueError("a notify target appends to 'path' or runs 'tool', not both: keep one")
        return self


ActionTarget = WebhookTarget | NotifyTarget

TargetSpec = Annotated[
    DatabaseTarget | FileTarget | ReportTarget | WebhookTarget | NotifyTarget, Field(discriminator="type")
]
