"""How sure the model was of each enum value it wrote, from the token log-probabilities of its reply.

llama.cpp's server and OpenAI return ``logprobs`` when asked. CrewAI's provider asks (``logprobs=True``) but
keeps only the text, so an ``interceptor`` on its HTTP transport reads each reply on the way in: for every
record in it (found by its ``item_id``), the probability of each enum value is the product of the
probabilities of the tokens that spell it. The batch runner takes them by item id (``take``) and holds records
below the crew's ``review: {min_confidence: ...}`` for review.
"""

from __future__ import annotations

import json
import math
import re
import threading
from typing import Any

import httpx
from crewai.llms.hooks.base import BaseInterceptor

_lock = threading.Lock()
_found: dict[str, dict[str, float]] = {}  # item_id -> enum field -> probability, until the batch runner takes it
_ITEM = re.compile(r'"item_id"\s*:\s*"((?:[^"\\]|\\.)*)"')
_VALUE = re.compile(r'"(\w+)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(true|false)\b)')  # a string, or a yes/no answer


def take(item_id: str) -> dict[str, float] | None:
    """The confidences recorded for ``item_id`` (and forget them), or ``None`` when the model gave none."""
    with _lock:
        return _found.pop(item_id, None)


def value_probabilities(tokens: list[dict[str, Any]], fields: set[str] | None = None
                        ) -> dict[str, dict[str, float]]:
    """item_id -> field -> probability of the string value written for that field, from ``logprobs.content``.

    String values (enum values are strings) and ``true``/``false`` (the answers to an enum's checks, see
    ``pipeline.checks``) are measured; ``fields`` limits which keys count.
    """
    text, starts = "", []
    for token in tokens:
        starts.append(len(text))
        text += str(token.get("token", ""))
    out: dict[str, dict[str, float]] = {}
    marks = list(_ITEM.finditer(text))
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
        segment_start = _record_start(text, mark.start())
        values = _VALUE.finditer(text[segment_start:end])
        probs: dict[str, float] = {}
        for value in values:
            name = value.group(1)
            if name == "item_id" or (fields is not None and name not in fields):
                continue
            group = 2 if value.group(2) is not None else 3
            lo, hi = segment_start + value.start(group), segment_start + value.end(group)
            covering = [t for t, s in zip(tokens, starts, strict=True)
                        if s < hi and s + len(str(t.get("token", ""))) > lo]
            logprob = sum(float(t.get("logprob", 0.0)) for t in covering)
            probs[name] = round(math.exp(logprob), 4)
        out[json.loads(f'"{mark.group(1)}"')] = probs
    return out


def _record_start(text: str, item_mark: int) -> int:
    """Where the record holding ``item_mark`` opens: the last ``{`` before it."""
    return max(text.rfind("{", 0, item_mark), 0)


class ConfidenceInterceptor(BaseInterceptor[httpx.Request, httpx.Response]):
    """Reads the log-probabilities of each chat completion and records them per item id."""

    def on_outbound(self, message: httpx.Request) -> httpx.Request:
        return message

    def on_inbound(self, message: httpx.Response) -> httpx.Response:
        try:
            message.read()
            body = message.json()
            tokens = ((body.get("choices") or [{}])[0].get("logprobs") or {}).get("content") or []
        except (ValueError, AttributeError, httpx.HTTPError):
            return message
        if tokens:
            found = value_probabilities(tokens)
            with _lock:
                _found.update({item_id: probs for item_id, probs in found.items() if probs})
        return message

    async def aon_outbound(self, message: httpx.Request) -> httpx.Request:
        return message

    async def aon_inbound(self, message: httpx.Response) -> httpx.Response:
        try:
            await message.aread()
        except httpx.HTTPError:
            return message
        return self.on_inbound(message)
