"""Webhook target: POST each matching record once, with an idempotency key and bounded retries.

The key is ``sha256("<crew>/<table>/<item_id>/<action>")`` where the action names the webhook, so the same record
sent to two webhooks gets two keys. Keys already sent (the ledger's business) are skipped; what a model call
retries (5xx, 408, 409, 429, ``model_runtime.retry.transient_status``), timeouts and connection errors are retried
with exponential backoff, other 4xx are final. Requests go through the one HTTP client, ``etlcrew.http_json``.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from etlcrew.http_json import HttpUnreachable, send
from etlcrew.model_runtime.retry import RetryPolicy, delay_for, transient_status
from etlcrew.pipeline.targets.conditions import parse_condition
from etlcrew.specs.datapath import WebhookTarget
from etlcrew.specs.env_refs import with_env

Outcome = Literal["sent", "skipped", "failed", "not_matched"]
SentKeys = set[str] | Callable[[str], bool]
_STEADY = random.Random(0)  # noqa: S311 - no jitter in this policy: deliveries wait the same every run


@dataclass(frozen=True)
class WebhookResult:
    """What happened to one record: ``sent``, ``skipped`` (key already sent), ``failed`` or ``not_matched``."""

    item_id: str
    key: str
    outcome: Outcome
    attempts: int = 0
    status: int | None = None
    error: str | None = None


def idempotency_key(crew: str, table: str, item_id: str, action: str, content_hash: str | None = None) -> str:
    """Stable across runs and processes: the receiver (and the ledger) can drop repeats by it. The outbox adds
    the item's content hash, so a changed item is delivered again and an unchanged one never."""
    tail = f"/{content_hash}" if content_hash is not None else ""
    return hashlib.sha256(f"{crew}/{table}/{item_id}/{action}{tail}".encode()).hexdigest()


def webhook_action(spec: WebhookTarget) -> str:
    """The action part of the key: which webhook this is."""
    return f"webhook:{spec.url}"


def _post_once(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> int:
    return send("POST", url, headers=headers, payload=payload, timeout_s=timeout).status


def post_webhooks(spec: WebhookTarget, records: Iterable[dict[str, Any]], run_id: str,
                  sent_keys: SentKeys, *, crew: str, table: str, backoff_s: float = 0.5,
                  sleep: Callable[[float], None] = time.sleep,
                  on_sent: Callable[[str, str], None] | None = None) -> list[WebhookResult]:
    """POST ``{crew, table, run_id, item_id, record}`` for each record matching ``spec.when``.

    ``sent_keys`` is a set or a predicate "was this key sent?"; a set is updated with the keys sent here, so
    calling twice posts once; ``on_sent(key, item_id)`` is told of each delivery as it happens (the runner keeps
    it in the ledger). Waits ``backoff_s * 2**n`` (capped at 30 s) between attempts.
    """
    if not spec.enabled:
        return []
    matches = parse_condition(spec.when) if spec.when else None
    already = sent_keys.__contains__ if isinstance(sent_keys, set) else sent_keys
    action = webhook_action(spec)
    results: list[WebhookResult] = []
    for record in records:
        item_id = str(record.get("item_id"))
        key = idempotency_key(crew, table, item_id, action)
        if matches is not None and not matches(record):
            results.append(WebhookResult(item_id, key, "not_matched"))
            continue
        if already(key):
            results.append(WebhookResult(item_id, key, "skipped"))
            continue
        result = post_with_retries(spec, key, item_id, {
            "crew": crew, "table": table, "run_id": run_id, "item_id": item_id, "record": record,
        }, backoff_s, sleep)
        if result.outcome == "sent":
            if isinstance(sent_keys, set):
                sent_keys.add(key)
            if on_sent is not None:
                on_sent(key, item_id)
        results.append(result)
    return results


def post_with_retries(spec: WebhookTarget, key: str, item_id: str, payload: dict[str, Any], backoff_s: float,
                      sleep: Callable[[float], None]) -> WebhookResult:
    """One delivery: up to ``spec.max_attempts`` POSTs with backoff; a final 4xx or a bad URL stops at once."""
    headers = with_env(spec.headers) | {"Idempotency-Key": key}
    policy = RetryPolicy(attempts=spec.max_attempts, backoff_s=backoff_s, max_backoff_s=30.0, jitter=0.0)
    status: int | None = None
    error: str | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            status, error = _post_once(spec.url, payload, headers, spec.timeout_s), None
            if 200 <= status < 300:
                return WebhookResult(item_id, key, "sent", attempt, status)
            error = f"HTTP {status}"
            if not transient_status(status):
                return WebhookResult(item_id, key, "failed", attempt, status, error)
        except ValueError as exc:  # not an http(s) URL: retrying cannot help
            return WebhookResult(item_id, key, "failed", attempt, None, str(exc))
        except HttpUnreachable as exc:
            status, error = None, str(exc)
        if attempt < policy.attempts:
            sleep(delay_for(attempt, policy, _STEADY))
    return WebhookResult(item_id, key, "failed", policy.attempts, status, error)
