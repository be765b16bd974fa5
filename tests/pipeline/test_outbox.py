"""The outbox (``pipeline.outbox.deliver``) against a real ledger file and a real HTTP server on 127.0.0.1.

The server fails the first N requests, then accepts, and counts every request; sleeps between attempts are
recorded, not slept. Each "run" is a call of ``deliver`` with a new run id on the same ledger, as ``finish`` makes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from etlcrew.ledger import open_ledger
from etlcrew.ledger.migrations import migrate
from etlcrew.pipeline.outbox import deliver
from etlcrew.settings import Settings
from etlcrew.specs.datapath import NotifyTarget, SchemaSpec, WebhookTarget

SCHEMA = SchemaSpec(table="tickets", fields={"urgency": {"type": "enum", "values": ["urgent", "low"]}})
RECORDS = {f"mail:{n}": {"item_id": f"mail:{n}", "urgency": "urgent" if n % 2 else "low"} for n in range(1, 5)}


class FlakyReceiver:
    """A real endpoint: the first ``fail_first`` requests get ``fail_status``, the rest 200; all are kept."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503) -> None:
        self.fail_first, self.fail_status = fail_first, fail_status
        self.requests: list[tuple[str, str]] = []  # (Idempotency-Key, item_id)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((self.headers["Idempotency-Key"], body["item_id"]))
                status = owner.fail_status if len(owner.requests) <= owner.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def accepted(self) -> list[str]:
        return [item for n, (_, item) in enumerate(self.requests, 1) if n > self.fail_first]


@pytest.fixture
def receiver() -> Iterator[FlakyReceiver]:
    rec = FlakyReceiver()
    thread = threading.Thread(target=rec.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(project_dir=tmp_path, config_dir=tmp_path / "config", state_dir=tmp_path / ".etlcrew",
                    output_dir=tmp_path / "output", model_cache_dir=tmp_path / "models")


class Runs:
    """Successive runs of one crew on one ledger: each adds its batch (members and hashes), then delivers."""

    def __init__(self, settings: Settings, targets: list[Any]) -> None:
        self.settings, self.ledger = settings, open_ledger(settings.state_dir)
        self.spec = SimpleNamespace(targets=targets, output_schema=SCHEMA)
        self.sleeps: list[float] = []
        self.count = 0

    def run(self, records: dict[str, dict[str, Any]] | None = None, actions: list[str] | None = None,
            hashes: dict[str, str] | None = None) -> Any:
        self.count += 1
        run_id = f"01RUN{self.count:02d}"
        records = records or {}
        self.ledger.add_batch(run_id, 1, [(i, (hashes or {}).get(i, f"h-{i}")) for i in records])
        return deliver(self.settings, "triage", self.spec, self.ledger, run_id, records, actions or [],
                       sleep=self.sleeps.append)

    def rows(self) -> dict[str, dict[str, Any]]:
        """item_id -> its delivery row (one target)."""
        with sqlite3.connect(self.ledger.path) as db:
            db.row_factory = sqlite3.Row
            return {r["item_id"]: dict(r) for r in db.execute("SELECT * FROM deliveries ORDER BY item_id")}


def test_retries_with_backoff_until_the_server_accepts(settings: Settings, receiver: FlakyReceiver) -> None:
    receiver.fail_first = 2
    runs = Runs(settings, [WebhookTarget(type="webhook", url=receiver.url, when="urgency == 'urgent'")])
    report = runs.run(RECORDS)
    assert report.delivered == 2 and report.failed == 0
    assert receiver.accepted() == ["mail:1", "mail:3"] and len(receiver.requests) == 4
    assert len({key for key, item in receiver.requests if item == "mail:1"}) == 1, "one key for every attempt"
    assert runs.sleeps == [0.5, 1.0], "exponential backoff between the attempts of a run"
    rows = runs.rows()
    assert {i: (r["status"], r["attempts"]) for i, r in rows.items()} == {"mail:1": ("delivered", 3),
                                                                          "mail:3": ("delivered", 1)}


def test_a_failed_delivery_is_retried_by_later_runs_then_given_up(settings: Settings,
                                                                  receiver: FlakyReceiver) -> None:
    receiver.fail_first, receiver.fail_status = 100, 500
    target = WebhookTarget(type="webhook", url=receiver.url, items="actions", max_attempts=2, max_runs=2)
    runs = Runs(settings, [target])
    first = runs.run(RECORDS, actions=["mail:2"])
    assert (first.delivered, first.failed) == (0, 1) and len(receiver.requests) == 2
    row = runs.rows()["mail:2"]
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 2, "HTTP 500")
    second = runs.run()  # nothing new: the open delivery is tried again
    assert second.targets[0].given_up == 1 and len(receiver.requests) == 4
    assert runs.rows()["mail:2"]["status"] == "given_up" and runs.rows()["mail:2"]["attempts"] == 4
    receiver.fail_first = 0
    runs.run()
    assert len(receiver.requests) == 4, "a given-up delivery is not tried again"


def test_the_next_run_delivers_what_an_earlier_one_failed(settings: Settings, receiver: FlakyReceiver) -> None:
    receiver.fail_first = 3  # three attempts of the first run fail
    runs = Runs(settings, [WebhookTarget(type="webhook", url=receiver.url, items="actions")])
    assert runs.run(RECORDS, actions=["mail:4"]).failed == 1
    later = runs.run()
    assert later.delivered == 1 and receiver.accepted() == ["mail:4"]
    row = runs.rows()["mail:4"]
    assert (row["status"], row["attempts"], row["rounds"], row["last_error"]) == ("delivered", 4, 2, None)
    assert row["run_id"] == "01RUN01" and row["last_run_id"] == "01RUN02"


def test_once_per_item_and_content_across_runs(settings: Settings, receiver: FlakyReceiver) -> None:
    runs = Runs(settings, [WebhookTarget(type="webhook", url=receiver.url, items="actions")])
    runs.run(RECORDS, actions=["mail:1", "mail:2", "mail:1"])
    again = runs.run(RECORDS, actions=["mail:1", "mail:2"])  # e.g. --full-refresh: same content
    assert again.delivered == 0 and receiver.accepted() == ["mail:1", "mail:2"]
    changed = runs.run(RECORDS, actions=["mail:1", "mail:2"], hashes={"mail:2": "edited"})
    assert changed.delivered == 1 and receiver.accepted() == ["mail:1", "mail:2", "mail:2"]
    assert receiver.requests[1][0] != receiver.requests[2][0], "changed content, new key"


def test_notify_file_gets_one_line_per_action_item(settings: Settings) -> None:
    log = settings.project_dir / "output" / "actions.log"
    runs = Runs(settings, [NotifyTarget(type="notify", path="output/actions.log")])
    runs.run(RECORDS, actions=["mail:3", "mail:9", "mail:1"])  # mail:9 has no record: passed over
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["run_id"], line["item_id"], line["fields"]) for line in lines] == [
        ("01RUN01", "mail:3", {"urgency": "urgent"}), ("01RUN01", "mail:1", {"urgency": "urgent"})]
    runs.run(RECORDS, actions=["mail:1", "mail:3"])
    assert len(log.read_text().splitlines()) == 2


def test_a_line_written_before_a_crash_is_not_written_again(settings: Settings) -> None:
    """The crash between the append and the ledger's mark: the row is pending, the file holds the line."""
    log = settings.project_dir / "output" / "actions.log"
    runs = Runs(settings, [NotifyTarget(type="notify", path="output/actions.log", when="urgency == 'low'")])
    runs.run(RECORDS, actions=["mail:2", "mail:4"])
    text = log.read_text()
    with sqlite3.connect(runs.ledger.path) as db:  # as if the process died before marking mail:4 delivered
        db.execute("UPDATE deliveries SET status='pending' WHERE item_id='mail:4'")
    log.write_text(text + '{"key": "torn')  # and a torn line of some other write
    report = runs.run()
    assert report.delivered == 1 and runs.rows()["mail:4"]["status"] == "delivered"
    items = [json.loads(line)["item_id"] for line in log.read_text().splitlines() if line.endswith("}")]
    assert items == ["mail:2", "mail:4"]


def test_migration_moves_sent_webhooks_into_the_outbox(settings: Settings, receiver: FlakyReceiver) -> None:
    """A ledger of the version before the outbox: its sent webhooks are delivered rows, never sent again."""
    settings.state_dir.mkdir(parents=True)
    with sqlite3.connect(settings.state_dir / "ledger.db") as db:
        assert migrate(db, upto=3) == [1, 2, 3]
        db.execute("INSERT INTO runs (run_id, crew, status, started_at, inputs_json, config_hash) "
                   "VALUES ('01OLD', 'triage', 'succeeded', '2026-01-01', '{}', 'c')")
        db.execute("INSERT INTO items VALUES ('triage', 'mail:1', 'h-mail:1', 'c', 'loaded', NULL, '01OLD', 'x')")
        db.execute("INSERT INTO webhook_deliveries VALUES ('oldkey', '01OLD', ?, 'mail:1', '2026-01-01')",
                   (receiver.url,))
    runs = Runs(settings, [WebhookTarget(type="webhook", url=receiver.url)])
    assert runs.rows()["mail:1"]["status"] == "delivered"
    runs.run({"mail:1": RECORDS["mail:1"], "mail:2": RECORDS["mail:2"]})
    assert receiver.accepted() == ["mail:2"], "the webhook sent before the upgrade is not sent again"
