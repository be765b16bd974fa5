"""When to retry a model call or a webhook POST and how long to wait: the policy, the backoff and the error
classification.

Kept free of CrewAI imports so settings and the CLI can build a ``RetryPolicy`` without paying for CrewAI;
``model_runtime.resilience`` applies it (and re-exports everything here).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import BaseModel, ValidationError

RETRY_AFTER_CAP_S = 300.0  # a Retry-After beyond max_backoff_s is honoured up to this
TRANSIENT_STATUS = frozenset({408, 409, 429})  # and every status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` per model, backoff bounds, per-call timeout, and the run-level failure cap."""

    attempts: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    jitter: float = 0.5  # the delay is multiplied by uniform(1 - jitter, 1 + jitter)
    timeout_s: float | None = 120.0
    max_consecutive_failures: int = 10


def transient_status(status: int) -> bool:
    """Whether an HTTP status is worth another attempt: 408, 409, 429 and every 5xx (model calls and webhooks)."""
    return status in TRANSIENT_STATUS or status >= 500


def delay_for(attempt: int, policy: RetryPolicy, rng: random.Random, retry_after: float | None = None) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): ``backoff_s * 2**(attempt-1)``, jittered, at most
    ``max_backoff_s``. A server's Retry-After raises it, up to ``max(max_backoff_s, RETRY_AFTER_CAP_S)``: a 429
    asking for 60 s gets 60 s, one asking for an hour gets 5 minutes (then the next attempt or model)."""
    base = min(policy.backoff_s * 2 ** max(0, attempt - 1), policy.max_backoff_s)
    delay = min(base * rng.uniform(1 - policy.jitter, 1 + policy.jitter), policy.max_backoff_s)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(policy.max_backoff_s, RETRY_AFTER_CAP_S)))
    return max(0.0, delay)


class InvalidOutput(Exception):
    """The model answered, but not with valid JSON for the requested ``response_model`` (retried)."""


def classify(exc: BaseException, *, now: Callable[[], float] = time.time) -> tuple[bool, float | None]:
    """Whether ``exc`` is worth retrying, and the server's Retry-After in seconds if it gave one.

    An HTTP status decides when one is found (on the error or its ``__cause__`` chain: CrewAI re-raises
    openai's connection errors as ``ConnectionError``); otherwise known network and timeout types are transient.
    """
    for candidate in _causes(exc):
        status = _status(candidate)
        if status is not None:
            transient = transient_status(status)
            return transient, (_retry_after(candidate, now) if transient else None)
        if isinstance(candidate, _transient_types()):
            return True, _retry_after(candidate, now)
    return False, None


def parse_retry_after(value: Any, *, now: Callable[[], float] = time.time) -> float | None:
    """A Retry-After header value (seconds or an HTTP-date) as seconds from now; None if unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        return max(0.0, parsedate_to_datetime(str(value)).timestamp() - now())
    except (TypeError, ValueError, IndexError):
        return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 6:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)  # urllib's URLError carries the socket error here
        current = current.__cause__ or (reason if isinstance(reason, BaseException) else None)


def _status(exc: BaseException) -> int | None:
    for status in (getattr(exc, "status_code", None), getattr(getattr(exc, "response", None), "status_code", None)):
        if isinstance(status, int) and not isinstance(status, bool):
            return status
    return None


def _retry_after(exc: BaseException, now: Callable[[], float]) -> float | None:
    direct = getattr(exc, "retry_after", None)
    if isinstance(direct, int | float) and not isinstance(direct, bool):
        return max(0.0, float(direct))
    headers = getattr(getattr(exc, "response", None), "headers", None) or getattr(exc, "headers", None)
    if not hasattr(headers, "items"):
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:  # OpenAI's finer-grained variant
        seconds = parse_retry_after(lowered["retry-after-ms"], now=now)
        if seconds is not None:
            return seconds / 1000
    return parse_retry_after(lowered.get("retry-after"), now=now)


_TRANSIENT: tuple[type[BaseException], ...] | None = None


def _transient_types() -> tuple[type[BaseException], ...]:
    global _TRANSIENT
    if _TRANSIENT is None:
        found: list[type[BaseException]] = [TimeoutError, ConnectionError, InvalidOutput]
        try:
            import httpx

            found += [httpx.TimeoutException, httpx.TransportError]
        except ImportError:  # pragma: no cover - httpx comes with crewai
            pass
        try:
            import openai

            found += [openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                      openai.InternalServerError]
        except ImportError:  # pragma: no cover
            pass
        _TRANSIENT = tuple(found)
    return _TRANSIENT


def short_error(error: BaseException | None, limit: int = 200) -> str:
    text = " ".join(str(error or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_structured(text: str, response_model: type[BaseModel]) -> BaseModel:
    """Validate a JSON answer (```json fences tolerated) or raise ``InvalidOutput``."""
    body = text.strip()
    fenced = re.fullmatch(r"```[a-zA-Z]*\s*(.*?)\s*```", body, re.DOTALL)
    try:
        return response_model.model_validate_json(fenced.group(1) if fenced else body)
    except ValidationError as exc:
        raise invalid_output(exc) from exc


def invalid_output(exc: ValidationError) -> InvalidOutput:
    """``InvalidOutput`` naming the first problem, short enough for a log line and the ledger."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidOutput(f"{where}: {first.get('msg', exc)}{more}")


def apply_timeout(llm: Any, timeout_s: float | None) -> None:
    """Give ``llm`` a per-call timeout if it has a ``timeout`` field left unset.

    CrewAI's OpenAI provider builds its client when constructed, so its cached clients are dropped to be
    rebuilt with the timeout on the next call. Prefer passing ``timeout=`` where the LLM is built.
    """
    if timeout_s is None or not hasattr(llm, "timeout") or llm.timeout is not None:
        return
    llm.timeout = timeout_s
    for cached in ("_client", "_async_client"):
        if getattr(llm, cached, None) is not None:
            setattr(llm, cached, None)
