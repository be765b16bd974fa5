"""Count model calls and tokens from CrewAI's event bus, once per call.

CrewAI's ``usage_metrics`` sums each LLM instance per agent, so an instance shared by agents is counted twice;
the completed-call events are counted exactly once each. Providers that report usage give exact counts; the
scripted model estimates. Cost comes from a per-model price table. A model served here (``local/``, Ollama, the
scripted model) costs 0; any other model missing from the table has an unknown cost (``None``: ``-`` in tables,
``null`` in JSON), never 0: a hosted model that is not priced is not free.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etlcrew.run_context import CURRENT_BATCH  # the batch a call belongs to (set by the data path)


@dataclass(frozen=True)
class CallRecord:
    """One attempt at one model call, as the ledger keeps it."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float | None
    error: str | None
    attempt: int = 1
    batch_no: int | None = None
    agent: str | None = None
    task: str | None = None


CallRecorder = Callable[[CallRecord], None]

# How long a completed call's handler waits for its started event's handler (queued before it on CrewAI's pool).
START_WAIT_S = 1.0


def _made_at(event: Any) -> datetime:
    """When CrewAI made the event (``BaseEvent.timestamp``, in the emitting thread); now if it has none."""
    made = getattr(event, "timestamp", None)
    return made if isinstance(made, datetime) else datetime.now(UTC)

# USD per million tokens (prompt, completion), from config/prices.yaml (``load_prices``); local and scripted
# models cost nothing. Keys are the configured names (openai/gpt-4o-mini); providers report bare names.
PRICES: dict[str, tuple[float, float]] = {}
PRICES_FILE = "prices.yaml"
FREE_PROVIDERS = ("local", "ollama", "ollama_chat", "scripted")  # served on this machine (or the test's stand-in)
PRICE_HINT = "add it to config/prices.yaml as [prompt, completion] USD per million tokens ([0, 0] if self-hosted)"


def load_prices(config_dir: Path) -> dict[str, tuple[float, float]]:
    """Read ``config/prices.yaml`` into ``PRICES`` (a missing file means every model costs 0).

    Raises ``ConfigError`` naming the model when an entry is not ``[prompt, completion]`` numbers.
    """
    from etlcrew.errors import ConfigError, ConfigProblem
    from etlcrew.specs.yaml_source import read_config_yaml

    path = config_dir / PRICES_FILE
    data = read_config_yaml(path).data if path.is_file() else {}
    if data is not None and not isinstance(data, dict):
        raise ConfigError([ConfigProblem(f"{config_dir.name}/{PRICES_FILE}", "expected a mapping of model names to "
                                         "[prompt, completion]", 1, hint="e.g. openai/gpt-4o-mini: [0.15, 0.60]")])
    prices: dict[str, tuple[float, float]] = {}
    for model, pair in (data or {}).items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int | float) for v in pair)):
            raise ConfigError([ConfigProblem(
                f"{config_dir.name}/{PRICES_FILE}", f"price of '{model}' must be [prompt, completion] in USD per "
                "million tokens", entry=str(model), hint="e.g. [0.15, 0.60]")])
        prices[str(model)] = (float(pair[0]), float(pair[1]))
    PRICES.clear()
    PRICES.update(prices)
    return prices


@dataclass
class Usage:
    """Totals for one run."""

    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    by_model: dict[str, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "failed_calls": self.failed_calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6)}


def price_of(model: str, configured: Iterable[str] = ()) -> tuple[float, float] | None:
    """USD per million (prompt, completion) tokens of ``model``, (0, 0) for a model served here, ``None`` unknown.

    ``model`` is a configured name (``openai/gpt-4o-mini``) or the bare name a provider reports (``gpt-4o-mini``);
    ``configured`` (the run's models) says which provider a bare name came from.
    """
    bare = model.rpartition("/")[2]
    price = PRICES.get(model) or next((p for name, p in PRICES.items() if name.rpartition("/")[2] == bare), None)
    if price is not None:
        return price
    full = model if "/" in model else next((c for c in configured if c.rpartition("/")[2] == model), model)
    if full.partition("/")[0] in FREE_PROVIDERS or full.startswith("scripted") or bare in _catalogue_names():
        return (0.0, 0.0)
    return None


def _catalogue_names() -> set[str]:
    """The embedded models' names, which they report as their model (served here, so free)."""
    from etlcrew.model_runtime.catalogue import load_catalogue

    return {entry.name for entry in load_catalogue()}


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int, configured: Iterable[str] = ()) -> float | None:
    """Estimated cost from ``PRICES``; ``None`` when the model has no price (see ``price_of``)."""
    price = price_of(model, configured)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def total_cost(calls: Iterable[tuple[str, int, int]], configured: Iterable[str] = ()) -> float | None:
    """The cost of successful calls given as (model, prompt tokens, completion tokens): ``None`` as soon as one
    model has no price, since a partial sum would read as the whole."""
    names = tuple(configured)
    total = 0.0
    for model, prompt, completion in calls:
        cost = cost_usd(model, prompt, completion, names)
        if cost is None:
            return None
        total += cost
    return round(total, 6)


def unpriced(models: Iterable[str]) -> list[str]:
    """The models among ``models`` that have no price: the cost hint names them."""
    names = tuple(models)
    return [m for m in names if price_of(m, names) is None]


def cost_text(cost: float | None) -> str:
    """``$0.0123``; ``$0`` when nothing was spent (local models), which leaves table width to the counts; ``-``
    when the cost is unknown."""
    if cost is None:
        return "-"
    return f"${cost:.4f}" if cost else "$0"


def _labels(event: Any) -> dict[str, Any]:
    """Attempt (from the retry layer), batch, agent and task of the call that emitted ``event``."""
    from etlcrew.model_runtime.resilience import current_call_scope

    scope = current_call_scope()
    return {"attempt": scope.attempt if scope else 1, "batch_no": CURRENT_BATCH.get(),
            "agent": getattr(event, "agent_role", None), "task": getattr(event, "task_name", None)}


# Each CrewAI provider reports usage under its own API's names: OpenAI, Anthropic, Gemini (``prompt_token_count``;
# its ``completion_tokens`` already adds thinking tokens to the candidates').
PROMPT_KEYS = ("prompt_tokens", "input_tokens", "prompt_token_count")
COMPLETION_KEYS = ("completion_tokens", "output_tokens", "candidates_token_count")


def token_counts(usage: dict[str, Any]) -> tuple[int, int]:
    """(prompt, completion) tokens from a completed call's ``usage``, whichever provider reported it."""
    prompt = next((usage[k] for k in PROMPT_KEYS if usage.get(k)), 0)
    completion = next((usage[k] for k in COMPLETION_KEYS if usage.get(k)), 0)
    return int(prompt), int(completion)


class UsageMeter:
    """Listens to LLM call events while active (``with UsageMeter() as meter``)."""

    def __init__(self, record: CallRecorder | None = None) -> None:
        self.usage = Usage()
        self._lock = threading.Condition()
        self._record = record
        self._started: dict[str, datetime] = {}  # call id -> when its started event was made
        self._failed_ids: dict[str, None] = {}  # call ids already counted as failed, oldest first

    def _started_call(self, source: Any, event: Any) -> None:
        with self._lock:
            self._started[str(event.call_id)] = _made_at(event)
            self._lock.notify_all()

    def _latency_ms(self, event: Any) -> float | None:
        """From the started event's creation to this one's: CrewAI runs sync handlers on a pool of 10 threads, so
        the started handler can run after the completed one (seen on Python 3.13), and a handler's own clock would
        count the pool's queue; the events' timestamps are taken in the calling thread, in order."""
        call_id = str(getattr(event, "call_id", ""))
        with self._lock:
            self._lock.wait_for(lambda: call_id in self._started, timeout=START_WAIT_S)
            began = self._started.pop(call_id, None)
        if began is None:
            return None
        return round(max((_made_at(event) - began).total_seconds(), 0.0) * 1000, 1)

    def _add(self, model: str, prompt: int, completion: int) -> None:
        with self._lock:
            u = self.usage
            u.calls += 1
            u.prompt_tokens += prompt
            u.completion_tokens += completion
            cost = cost_usd(model, prompt, completion)
            u.cost_usd = None if cost is None or u.cost_usd is None else u.cost_usd + cost
            u.by_model.setdefault(model, [0, 0, 0])
            counts = u.by_model[model]
            counts[0] += 1
            counts[1] += prompt
            counts[2] += completion

    def _completed(self, source: Any, event: Any) -> None:
        prompt, completion = token_counts(event.usage or {})
        model = str(event.model or "")
        self._add(model, prompt, completion)
        if self._record:
            self._record(CallRecord(model, prompt, completion, self._latency_ms(event), None, **_labels(event)))

    def add_remote(self, call: CallRecord) -> None:
        """A call another process made (a Ray worker's, which its own meter saw): counted here once and recorded,
        as if this meter had seen it (the run's budget reads these totals)."""
        if call.error is None:
            self._add(call.model, call.prompt_tokens, call.completion_tokens)
        else:
            with self._lock:
                self.usage.failed_calls += 1
        if self._record:
            self._record(call)

    def _failed(self, source: Any, event: Any) -> None:
        """Counted and recorded once per attempt (CrewAI's OpenAI provider reports one failed attempt twice, from
        two nested handlers, with the same call id); the retry layer says what happens next."""
        call_id = str(getattr(event, "call_id", "") or "")
        with self._lock:
            if call_id and call_id in self._failed_ids:
                return
            if call_id:
                self._failed_ids[call_id] = None
                if len(self._failed_ids) > 10_000:  # only the latest attempts can be reported again
                    self._failed_ids.pop(next(iter(self._failed_ids)))
            self.usage.failed_calls += 1
        error = " ".join(str(getattr(event, "error", "") or "unknown error").split())
        if self._record:
            self._record(CallRecord(str(event.model or ""), 0, 0, self._latency_ms(event), error[:2000],
                                    **_labels(event)))

    def __enter__(self) -> UsageMeter:
        from crewai.events.event_bus import crewai_event_bus
        from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallFailedEvent, LLMCallStartedEvent

        crewai_event_bus.on(LLMCallStartedEvent)(self._started_call)
        crewai_event_bus.on(LLMCallCompletedEvent)(self._completed)
        crewai_event_bus.on(LLMCallFailedEvent)(self._failed)
        return self

    def __exit__(self, *exc: object) -> None:
        from crewai.events.event_bus import crewai_event_bus
        from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallFailedEvent, LLMCallStartedEvent

        crewai_event_bus.flush()
        crewai_event_bus.off(LLMCallStartedEvent, self._started_call)
        crewai_event_bus.off(LLMCallCompletedEvent, self._completed)
        crewai_event_bus.off(LLMCallFailedEvent, self._failed)
