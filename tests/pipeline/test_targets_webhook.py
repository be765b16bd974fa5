"""The ``when`` condition language and webhook delivery against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from etlcrew.pipeline.targets import ConditionError, idempotency_key, parse_condition, post_webhooks
from etlcrew.specs.datapath import WebhookTarget

RECORDS = [
    {"item_id": "mail:1", "category": "bug", "urgency": "urgent", "count": 3, "spam": False, "tags": ["ios"]},
    {"item_id": "mail:2", "category": "billing", "urgency": "low", "count": 0, "spam": True, "tags": []},
    {"item_id": "mail:3", "category": "other", "urgency": "urgent", "count": None, "spam": None, "tags": ["web"]},
]


def matching(when: str) -> list[str]:
    cond = parse_condition(when)
    return [r["item_id"] for r in RECORDS if cond(r)]


@pytest.mark.parametrize(("when", "expected"), [
    ("urgency == 'urgent'", ["mail:1", "mail:3"]),
    ('urgency != "urgent"', ["mail:2"]),
    ("category in ['bug', 'billing']", ["mail:1", "mail:2"]),
    ("category not in ['bug']", ["mail:2", "mail:3"]),
    ("urgency == 'urgent' and category == 'bug'", ["mail:1"]),
    ("category == 'billing' or category == 'other' and urgency == 'urgent'", ["mail:2", "mail:3"]),
    ("(category == 'billing' or category == 'other') and urgency == 'low'", ["mail:2"]),
    ("not spam == true", ["mail:1", "mail:3"]),
    ("count == 0", ["mail:2"]),
    ("count == null", ["mail:3"]),
    ("spam == false", ["mail:1"]),
    ("tags in ['web', 'ios']", ["mail:1", "mail:3"]),
    ("missing == 'x'", []),
    ("item_id == 'mail:2'", ["mail:2"]),
])
def test_condition_language(when, expected):
    assert matching(when) == expected


@pytest.mark.parametrize("when", [
    "__import__('os').system('true')",
    "urgency == 'a' ; rm -rf /",
    "urgency.upper() == 'URGENT'",
    "urgency == other_field",
    "urgency = 'urgent'",
    "urgency == 'urgent' and",
    "category in 'bug'",
    "(urgency == 'urgent'",
    "'urgent' == urgency",
    "",
])
def test_unsafe_or_malformed_conditions_are_rejected(when):
    with pytest.raises(ConditionError):
        parse_condition(when)


def test_condition_checks_field_names_when_given():
    parse_condition("urgency == 'x'", fields=["item_id", "urgency"])
    with pytest.raises(ConditionError, match="unknown field 'urgncy'"):
        parse_condition("urgncy == 'x'", fields=["item_id", "urgency"])


class Receiver:
    """A real HTTP endpoint: answers from ``script`` (status codes in order, then 200) and records requests."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append({"key": self.headers["Idempotency-Key"], "body": body})
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    thread = threading.Thread(target=rec.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def post(spec: WebhookTarget, sent: set[str] | object, records=RECORDS, sleeps: list | None = None):
    sleeps = sleeps if sleeps is not None else []
    return post_webhooks(spec, records, "run-1", sent, crew="triage", table="tickets",
                         backoff_s=0.01, sleep=sleeps.append)


def test_posts_matching_records_with_stable_idempotency_key(receiver: Receiver):
    spec = WebhookTarget(type="webhook", url=receiver.url, when="urgency == 'urgent'")
    results = post(spec, set())
    assert [(r.item_id, r.outcome) for r in results] == [("mail:1", "sent"), ("mail:2", "not_matched"),
                                                         ("mail:3", "sent")]
    expected = idempotency_key("triage", "tickets", "mail:1", f"webhook:{receiver.url}")
    assert expected == idempotency_key("triage", "tickets", "mail:1", f"webhook:{receiver.url}")
    assert len(expected) == 64 and receiver.requests[0]["key"] == expected
    assert receiver.requests[0]["body"] == {"crew": "triage", "table": "tickets", "run_id": "run-1",
                                            "item_id": "mail:1", "record": RECORDS[0]}
    assert idempotency_key("triage", "tickets", "mail:1", "webhook:http://other") != expected


def test_already_sent_keys_are_skipped_and_a_set_is_updated(receiver: Receiver):
    spec = WebhookTarget(type="webhook", url=receiver.url)
    sent: set[str] = set()
    post(spec, sent)
    again = post(spec, sent)
    assert [r.outcome for r in again] == ["skipped"] * 3
    assert len(receiver.requests) == 3 and len(sent) == 3
    ledger = {r["key"] for r in receiver.requests[:1]}
    third = post(spec, lambda key: key in ledger)
    assert [r.outcome for r in third] == ["skipped", "sent", "sent"]


def test_retries_after_503_then_succeeds(receiver: Receiver):
    receiver.script = [503, 503]
    sleeps: list[float] = []
    results = post(WebhookTarget(type="webhook", url=receiver.url, max_attempts=3), set(), RECORDS[:1], sleeps)
    assert results[0].outcome == "sent" and results[0].attempts == 3 and results[0].status == 200
    assert sleeps == [0.01, 0.02]
    assert len({r["key"] for r in receiver.requests}) == 1 and len(receiver.requests) == 3


def test_gives_up_after_max_attempts_and_does_not_retry_4xx(receiver: Receiver):
    receiver.script = [500, 500, 400]
    spec = WebhookTarget(type="webhook", url=receiver.url, max_attempts=2)
    sent: set[str] = set()
    results = post(spec, sent, RECORDS[:2])
    assert [(r.outcome, r.attempts, r.status) for r in results] == [("failed", 2, 500), ("failed", 1, 400)]
    assert results[0].error == "HTTP 500" and not sent


def test_unreachable_endpoint_fails_after_retries():
    spec = WebhookTarget(type="webhook", url="http://127.0.0.1:9/nothing", max_attempts=2, timeout_s=1)
    results = post(spec, set(), RECORDS[:1])
    assert results[0].outcome == "failed" and results[0].attempts == 2 and results[0].status is None


def test_disabled_webhook_posts_nothing(receiver: Receiver):
    assert post(WebhookTarget(type="webhook", url=receiver.url, enabled=False), set()) == []
    assert receiver.requests == []
