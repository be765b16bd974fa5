"""Strict schemas for ``agents.yaml``, ``tasks.yaml`` and ``crews.yaml``.

Agent and task keys are CrewAI's own, so a CrewAI project's ``agents.yaml`` loads unchanged; a key CrewAI
would silently ignore is an error here. The few keys etlcrew adds (``fallback_models``, ``phase``, ...) are
documented on their fields. The data-path parts of a crew (sources, schema, targets) live in ``datapath``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from etlcrew.specs.datapath import SchemaSpec, SourceSpec, TargetSpec
from etlcrew.specs.routes import RouteSpec


class StrictSpec(BaseModel):
    """Unknown keys are errors (with a did-you-mean), never silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


# CrewAI Agent keys that etlcrew passes through as they are (checked against crewai in tests/etlcrew/specs).
CREWAI_AGENT_PASSTHROUGH = frozenset({
    "allow_code_execution", "apps", "cache", "code_execution_mode", "date_format", "embedder",
    "from_repository", "guardrail", "guardrail_max_retries", "inject_date", "knowledge_config",
    "max_reasoning_attempts", "max_tokens", "mcps", "memory", "multimodal", "planning", "prompt_template",
    "reasoning", "respect_context_window", "response_template", "skills", "system_template",
    "tool_failure_policy", "use_system_prompt",
})

CREWAI_TASK_PASSTHROUGH = frozenset({
    "guardrail", "guardrail_max_retries", "max_retries", "create_directory", "tool_failure_policy",
})


def _split_passthrough(data: Any, allowed: frozenset[str]) -> Any:
    if isinstance(data, dict):
        data = dict(data)
        extra = {k: data.pop(k) for k in list(data) if k in allowed}
        if extra:
            data["crewai_options"] = extra
    return data


class AgentSpec(StrictSpec):
    """One role from ``agents.yaml``: CrewAI's agent keys, plus etlcrew's ``fallback_models``."""

    role: str
    goal: str
    backstory: str
    llm: str | None = None
    function_calling_llm: str | None = None
    tools: list[str] = Field(default_factory=list)
    allow_delegation: bool = False
    max_iter: int = Field(default=5, ge=1)
    max_rpm: int | None = Field(default=None, ge=1)
    max_execution_time: int | None = Field(default=None, ge=1)
    max_retry_limit: int = Field(default=0, ge=0, description="CrewAI re-runs of a failed task; etlcrew's retry layer "
                                 "already retries each call and the data path retries items, so 0 by default")
    verbose: bool = False
    fallback_models: list[str] = Field(default_factory=list, description="etlcrew: models tried after retries fail")
    crewai_options: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _passthrough(cls, data: Any) -> Any:
        return _split_passthrough(data, CREWAI_AGENT_PASSTHROUGH)


Phase = Literal["extract", "transform", "load"]


class TaskSpec(StrictSpec):
    """One task from ``tasks.yaml``: CrewAI's task keys, plus etlcrew's ``phase`` (defaults to the task's name)."""

    description: str
    expected_output: str
    agent: str | None = None
    context: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    output_file: str | None = None
    async_execution: bool = False
    human_input: bool = False
    markdown: bool = False
    name: str | None = None
    phase: Phase | None = Field(default=None, description="etlcrew: which ETL phase this task performs")
    crewai_options: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _passthrough(cls, data: Any) -> Any:
        return _split_passthrough(data, CREWAI_TASK_PASSTHROUGH)


InputValue = str | int | float | bool


class RetrySpec(StrictSpec):
    """How hard a crew tries a model call before falling back (``model_runtime.resilience``)."""

    attempts: int = Field(default=3, ge=1, le=20, description="tries per model before the next fallback")
    backoff_s: float = Field(default=1.0, ge=0, description="first wait; doubles each retry, with jitter")
    max_backoff_s: float = Field(default=30.0, ge=0)
    timeout_s: float | None = Field(default=None, gt=0, description="per model call; unset: 120 s for hosted "
                                    "providers, 900 s for the embedded model (a batch's records take minutes to "
                                    "generate on a busy 2-core machine)")
    max_consecutive_failures: int = Field(default=10, ge=1, description="failed calls in a row that stop the run")


class BudgetSpec(StrictSpec):
    """Limits per run (a resumed run counts what it spent before): no model call starts beyond them, the run
    ends ``stopped`` (exit 3) with what finished landed, resumable with a larger budget."""

    max_llm_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1, description="prompt + completion tokens")
    max_seconds: float | None = Field(default=None, gt=0)


class ReviewSpec(StrictSpec):
    """When a record goes to ``<table>__review`` instead of the table (see ``pipeline.review``)."""

    min_confidence: float | None = Field(default=None, ge=0, le=1, description="an enum field whose probability, "
                                         "from the model's token log-probabilities, is below this goes to review")
    degenerate: bool = Field(default=True, description="identical records or repeated free text across items "
                             "go to review (after one retry item by item)")


class EvalSpec(StrictSpec):
    """Where ``python main.py eval`` finds the crew's labelled items."""

    labels: str = Field(description="CSV: an item_id or file column, then one column per schema field checked")
    test: str | None = Field(default=None, description=(
        "a held-out labels file (never used to tune prompts), checked by validate; score it with "
        "eval --labels FILE. A labels.csv beside its own items is scored on them (evaluation/items.py)"))


class ActionsSpec(StrictSpec):
    """Which items need action (README, Configuration): a rule on the records (``when``, 0 model calls), the
    publisher's list (it comes with the run's one digest call), or both (their union)."""

    when: str | None = Field(default=None, description="a condition on a record, as a webhook's when: "
                             "urgency in ['urgent', 'high']")
    from_: Literal["rule", "publisher", "both"] | None = Field(default=None, alias="from", description=(
        "rule: the items matching 'when'; publisher: the items the publisher lists; both: either (default: rule "
        "when 'when' is set, else publisher)"))

    @model_validator(mode="after")
    def _rule_has_when(self) -> ActionsSpec:
        if self.from_ in ("rule", "both") and not self.when:
            raise ValueError(f"'from: {self.from_}' needs a rule: add when: \"urgency in ['urgent', 'high']\"")
        if self.from_ == "publisher" and self.when:
            raise ValueError("'when' is not used with 'from: publisher': write 'from: both' to use the rule too")
        return self

    @property
    def source(self) -> str:
        """rule, publisher or both, with the default applied."""
        return self.from_ or ("rule" if self.when else "publisher")


class CrewSpec(StrictSpec):
    """One crew from ``crews.yaml``: who works, on what, in which order, and where the results go."""

    description: str = ""
    default: bool = False
    agents: list[str] = Field(min_length=1)
    tasks: list[str] = Field(min_length=1)
    process: Literal["sequential", "hierarchical", "graph"] = "sequential"
    manager_llm: str | None = None
    manager: str | None = Field(default=None, description="an agent of agents.yaml acting as manager")
    max_manager_iterations: int = Field(default=6, ge=1, le=50)
    model: str | None = Field(default=None, description="model for every agent without its own llm")
    fallback_models: list[str] = Field(default_factory=list, description="tried in order after retries fail")
    retry: RetrySpec = Field(default_factory=RetrySpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    inputs: dict[str, InputValue] = Field(default_factory=dict)
    verbose: bool = False
    memory: bool = False
    planning: bool = False
    max_rpm: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=5, ge=1, le=500)
    items_per_call: int | None = Field(default=None, ge=1, le=500, description="items per transform call "
                                       "(unset: the whole batch); 1 suits small local models")
    concurrency: int = Field(default=1, ge=1, le=64)
    chars_per_item: int = Field(default=700, ge=50, description="item text shown to the model, per item")
    land_interval_s: float = Field(default=5.0, ge=0, description="finished batches are landed together at most this "
                                   "long after the first of them finished (0: each as it finishes); they are "
                                   "committed to the ledger at once either way")
    sources: list[SourceSpec] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list, description="hosts (or host:port) beyond loopback that "
                                     "its http sources, webhooks and tools may reach")
    output_schema: SchemaSpec | None = Field(default=None, alias="schema")
    targets: list[TargetSpec] = Field(default_factory=list)
    review: ReviewSpec = Field(default_factory=ReviewSpec)
    actions: ActionsSpec = Field(default_factory=ActionsSpec)
    routes: dict[str, list[RouteSpec]] = Field(default_factory=dict, description="process: graph: where an item "
                                               "goes after a phase (specs.routes)")
    eval: EvalSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _earlier_key_names(cls, data: Any) -> Any:
        """``load_interval_s`` (before the write to the targets was called "land") still reads."""
        if isinstance(data, dict) and "load_interval_s" in data and "land_interval_s" not in data:
            data = {("land_interval_s" if k == "load_interval_s" else k): v for k, v in data.items()}
        return data
