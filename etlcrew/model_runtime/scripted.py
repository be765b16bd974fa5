"""A scripted model: a CrewAI ``BaseLLM`` that answers from a queue and remembers what it was asked.

Part of the product, not only the tests, so users can test their own crews deterministically (like httpx's
``MockTransport``). It behaves like a real model towards CrewAI: it emits the LLM call events and counts tokens
(a rough 4-characters-per-token estimate), so progress, ledger and usage figures work with it.

    llm = ScriptedLLM(responses=["Final Answer: done"])
    llm.enqueue(lambda call: {"records": [...]})     # a function of the call, or a dict/BaseModel
    ...; llm.history[0].prompt                       # what the crew sent

Importing this module imports CrewAI: call ``etlcrew.crewai_env.prepare_crewai_environment`` first.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context
from pydantic import BaseModel, PrivateAttr

ScriptedResponse = str | dict[str, Any] | list[Any] | BaseModel | Callable[["ScriptedCall"], Any] | Exception


@dataclass
class ScriptedCall:
    """One call the crew made: the messages, the structured output it asked for, and who asked."""

    messages: list[dict[str, Any]]
    response_model: type[BaseModel] | None
    task: str | None
    agent: str | None
    answer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """All message contents joined, for simple ``in`` assertions."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


def is_tool_calls(value: Any) -> bool:
    """An answer made of native tool calls: ``[{"id": ..., "type": "function", "function": {...}}, ...]``."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "function" in v for v in value)


def estimate_tokens(text: str) -> int:
    """Four characters per token: close enough for English with common tokenizers."""
    return max(1, len(text) // 4)


class ScriptedLLM(BaseLLM):
    """Answers with queued responses in order; ``default`` answers when the queue is empty (else an error)."""

    llm_type: str = "scripted"
    model: str = "scripted"
    provider: str = "scripted"
    default: Any = None
    function_calling: bool = True  # False: CrewAI drives tools through ReAct text ("Action: ...")
    _queue: deque[ScriptedResponse] = PrivateAttr(default_factory=deque)
    _history: list[ScriptedCall] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, responses: list[ScriptedResponse] | None = None, **data: Any) -> None:
        data.setdefault("model", "scripted")
        data.setdefault("provider", "scripted")
        super().__init__(**data)
        for response in responses or []:
            self.enqueue(response)

    def enqueue(self, response: ScriptedResponse) -> ScriptedLLM:
        """Queue one more answer; returns self so calls chain."""
        with self._lock:
            self._queue.append(response)
        return self

    @property
    def history(self) -> list[ScriptedCall]:
        """Every call so far, oldest first."""
        return list(self._history)

    def _next(self) -> ScriptedResponse:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default is not None:
            return self.default
        raise RuntimeError("ScriptedLLM: no response queued for this call (enqueue one or set default=)")

    @staticmethod
    def _render(value: Any, call: ScriptedCall) -> Any:
        if callable(value) and not isinstance(value, BaseModel | type):
            value = value(call)
        if isinstance(value, Exception):
            raise value
        if is_tool_calls(value):
            return value  # native tool calls: CrewAI runs the tools and calls the model again with the results
        if isinstance(value, BaseModel):
            return value.model_dump_json()
        if isinstance(value, dict | list):
            return json.dumps(value)
        return str(value)

    def call(  # type: ignore[override]
        self,
        messages: str | list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | Any:
        with llm_call_context():
            return self._answer(messages, tools, callbacks, available_functions, from_task, from_agent,
                                response_model)

    def _answer(self, messages: str | list[dict[str, Any]], tools: Any, callbacks: Any, available_functions: Any,
                from_task: Any, from_agent: Any, response_model: type[BaseModel] | None) -> str | Any:
        msgs = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
        record = ScriptedCall(
            messages=msgs,
            response_model=response_model,
            task=getattr(from_task, "name", None),
            agent=getattr(from_agent, "role", None),
        )
        self._emit_call_started_event(messages=msgs, tools=tools, callbacks=callbacks,
                                      available_functions=available_functions, from_task=from_task,
                                      from_agent=from_agent)
        with self._lock:
            self._history.append(record)
        try:
            answer = self._render(self._next(), record)
        except Exception as exc:
            self._emit_call_failed_event(error=str(exc), from_task=from_task, from_agent=from_agent)
            raise
        record.answer = answer
        usage = {
            "prompt_tokens": estimate_tokens(record.prompt),
            "completion_tokens": estimate_tokens(answer if isinstance(answer, str) else json.dumps(answer)),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        with self._lock:
            self._track_token_usage_internal(usage)
        self._emit_call_completed_event(response=answer, call_type=LLMCallType.LLM_CALL, from_task=from_task,
                                        from_agent=from_agent, messages=msgs, usage=usage)
        if response_model is not None:
            return response_model.model_validate_json(answer)
        return answer

    def supports_function_calling(self) -> bool:
        """Like the OpenAI-compatible providers: CrewAI then asks for structured output natively."""
        return self.function_calling

    def get_context_window_size(self) -> int:
        return 32_768


_REGISTERED: dict[str, ScriptedLLM] = {}


def register_scripted(name: str, llm: ScriptedLLM) -> None:
    """Make ``llm`` answer for ``--model scripted/<name>`` in this process (tests, users' own harnesses)."""
    _REGISTERED[name] = llm


def unregister_scripted(name: str) -> None:
    _REGISTERED.pop(name, None)


SAMPLE = "sample"


def registered_scripted(name: str) -> ScriptedLLM | None:
    """The model registered as ``name``; ``sample`` is always there (``sample_answer`` to every call), so
    ``--model scripted/sample`` checks a crew's plumbing without a model, in any process (Ray workers too)."""
    if name == SAMPLE and name not in _REGISTERED:
        _REGISTERED[name] = ScriptedLLM(default=sample_answer, model="scripted-sample")
    return _REGISTERED.get(name)


def sample_answer(call: ScriptedCall) -> str:
    """A valid answer for any call: schema-conforming JSON when structured output is asked, else a final answer.

    Use as ``ScriptedLLM(default=sample_answer)`` to run a whole crew offline and check its plumbing.
    """
    if call.response_model is None:
        return "Thought: done\nFinal Answer: scripted finding"
    return json.dumps(sample_instance(call.response_model.model_json_schema()))


def sample_instance(schema: dict[str, Any], seed: str = "") -> Any:
    """The simplest value valid against a (flat) JSON schema; a list of records gets one per ``item_id`` enum.

    A record's free-text fields carry a short tag of its ``item_id`` where they fit, so records of different
    items differ as a model's would (identical records are held for review, see ``pipeline.review``).
    """
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "anyOf" in schema:
        return sample_instance(next(s for s in schema["anyOf"] if s.get("type") != "null"), seed)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        item = properties.get("item_id", {}).get("const", seed)
        return {name: sample_instance(sub, item) for name, sub in properties.items()}
    if kind == "array" and "prefixItems" in schema:
        return [sample_instance(position) for position in schema["prefixItems"]]
    if kind == "array":
        items = schema.get("items", {})
        id_schema = items.get("properties", {}).get("item_id", {})
        ids = id_schema.get("enum") or ([id_schema["const"]] if "const" in id_schema else None)
        if ids:
            return [sample_instance(items, i) | {"item_id": i} for i in ids]
        return [sample_instance(items) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        if not seed:
            return low
        import hashlib

        bump = int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) % 50
        return min(low + bump, schema.get("maximum", low + bump))
    if kind == "boolean":
        return False
    if schema.get("format") == "date":
        return "2026-01-01"
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    return _sample_string(schema, seed)


_STRING_CANDIDATES = ("scripted", "AA", "aa", "A", "a", "0", "00", "A1", "x@example.com", "2026-01-01")


def _sample_string(schema: dict[str, Any], seed: str = "") -> str:
    """A string meeting the length bounds and, for simple patterns, the pattern (first candidate that fits)."""
    import hashlib
    import re

    low, high = schema.get("minLength", 0), schema.get("maxLength", 10_000)
    tagged = (f"scripted {hashlib.sha256(seed.encode()).hexdigest()[:6]}",) if seed else ()
    for candidate in (*tagged, *_STRING_CANDIDATES):
        if low <= len(candidate) <= high and ("pattern" not in schema or re.search(schema["pattern"], candidate)):
            return candidate
    return "s" * max(1, low)
