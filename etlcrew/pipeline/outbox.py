"""Action targets (``webhook``, ``notify``) deliver through an outbox in the ledger: enqueue, commit, then send.

``deliver`` is the one entry point (``pipeline.finish`` calls it once the run's batches have landed). For each
enabled action target it first enqueues one row per chosen item in a single commit, then sends every row of that
target still open (pending or failed), this run's and any earlier run's. So:

- a crash after the enqueue and before (or during) the sending is finished by ``resume`` or by the crew's next run;
- the key is ``sha256(crew/table/item_id/<target>/<item content hash>)``: an item whose content is unchanged is
  never delivered twice to a target, across re-runs, ``--full-refresh`` and config changes; an item whose content
  changed is a new delivery (decision: a changed email is news, a re-labelled one is not);
- a delivery is tried ``max_attempts`` times in a run with exponential backoff (0.5 s, 1 s, ... capped at 30 s,
  ``model_runtime.retry.delay_for``), then marked ``failed`` with its error; each later run or resume tries it
  again, and after ``max_runs`` failed runs it is ``given_up`` (``show RUN_ID`` lists them all).

Which items: ``items: records`` (the webhook's default) is every landed record of the run, ``items: actions``
(the notify target's default) the run's action items; ``when:`` narrows either. An action item without a landed
record (quarantined, held for review) is not delivered. Webhooks get at-least-once with the same
``Idempotency-Key`` (a crash between the POST and the ledger's mark repeats it); the notify file exactly once.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etlcrew.ledger.deliveries import Enqueued
from etlcrew.model_runtime.retry import RetryPolicy, delay_for
from etlcrew.pipeline import failpoints
from etlcrew.pipeline.targets.conditions import parse_condition
from etlcrew.pipeline.targets.notify import append_line, call_tool, keys_in, notify_path
from etlcrew.pipeline.targets.webhook import idempotency_key, post_with_retries
from etlcrew.specs.datapath import NotifyTarget, WebhookTarget

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.settings import Settings

BACKOFF_S = 0.5
_STEADY = random.Random(0)  # noqa: S311 - no jitter: deliveries wait the same every run
Send = Callable[[str, dict[str, Any]], tuple[bool, int, str | None]]  # (key, payload) -> (ok, attempts, error)


@dataclass
class TargetDeliveries:
    """One action target's outcome in this run; ``delivered`` counts what was sent now."""

    target: str
    enqueued: int = 0
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class DeliveryReport:
    """Every action target's outcome in this run."""

    targets: list[TargetDeliveries] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(t.delivered for t in self.targets)

    @property
    def failed(self) -> int:
        return sum(t.failed + t.given_up for t in self.targets)

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "failed": self.failed, "targets": [asdict(t) for t in self.targets]}


def deliver(settings: Settings, crew: str, spec: Any, ledger: Ledger, run_id: str,
            records_by_id: dict[str, dict[str, Any]], action_item_ids: list[str], *,
            sleep: Callable[[float], None] = time.sleep) -> DeliveryReport:
    """Enqueue this run's deliveries for every enabled action target, then send every open one.

    ``records_by_id``: the run's landed records by item id; ``action_item_ids``: the run's action items in order
    (ids without a record are passed over)."""
    targets = [t for t in spec.targets if isinstance(t, WebhookTarget | NotifyTarget) and t.enabled]
    report = DeliveryReport()
    if not targets:
        return report
    table = spec.output_schema.table if spec.output_schema is not None else crew
    hashes = ledger.member_hashes(run_id)
    for target in targets:
        name = target_name(target, crew, settings)
        rows = [_row(target, name, crew, table, run_id, record, hashes)
                for record in chosen(target, records_by_id, action_item_ids)]
        ledger.enqueue(crew, run_id, rows)
        report.targets.append(TargetDeliveries(name, enqueued=len(rows)))
    failpoints.hit("outbox-enqueued")
    for target, counts in zip(targets, report.targets, strict=True):
        _send_open(target, counts, _sender(target, crew, settings, sleep), crew, ledger, run_id)
    return report


def target_name(target: WebhookTarget | NotifyTarget, crew: str, settings: Settings) -> str:
    """How the outbox names a target (in each key): ``webhook:<url>``, ``notify:<path>``, ``notify:tool:<name>``."""
    if isinstance(target, WebhookTarget):
        return f"webhook:{target.url}"
    if target.tool:
        return f"notify:tool:{target.tool}"
    path = notify_path(target, crew, settings)
    shown = path.relative_to(settings.project_dir) if path.is_relative_to(settings.project_dir) else path
    return f"notify:{shown}"


def chosen(target: WebhookTarget | NotifyTarget, records_by_id: dict[str, dict[str, Any]],
           action_item_ids: list[str]) -> list[dict[str, Any]]:
    """The records the target delivers this run: every record or the action items', matching ``when``."""
    if target.items == "actions":
        ids = [i for i in dict.fromkeys(map(str, action_item_ids)) if i in records_by_id]
    else:
        ids = list(records_by_id)
    matches = parse_condition(target.when) if target.when else None
    return [records_by_id[i] for i in ids if matches is None or matches(records_by_id[i])]


def _row(target: WebhookTarget | NotifyTarget, name: str, crew: str, table: str, run_id: str,
         record: dict[str, Any], hashes: dict[str, str]) -> Enqueued:
    item_id = str(record.get("item_id"))
    content = hashes.get(item_id) or hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()
                                                    ).hexdigest()
    if isinstance(target, WebhookTarget):
        payload = {"crew": crew, "table": table, "run_id": run_id, "item_id": item_id, "record": record}
    else:
        payload = {"crew": crew, "run_id": run_id, "item_id": item_id,
                   "fields": {k: v for k, v in record.items() if k != "item_id"}}
    return Enqueued(idempotency_key(crew, table, item_id, name, content), name, item_id, content, payload)


def _send_open(target: WebhookTarget | NotifyTarget, counts: TargetDeliveries, send: Send, crew: str,
               ledger: Ledger, run_id: str) -> None:
    point = "webhook" if isinstance(target, WebhookTarget) else "notify"
    for row in ledger.open_deliveries(crew, counts.target):
        key = row["idempotency_key"]
        ok, attempts, error = send(key, json.loads(row["payload_json"]))
        failpoints.hit("delivery-sent")
        if ok:
            ledger.mark_delivered(key, run_id, attempts)
            counts.delivered += 1
            failpoints.hit(point)
            continue
        status = ledger.mark_failed(key, run_id, attempts, error or "failed", target.max_runs)
        if status == "given_up":
            counts.given_up += 1
        else:
            counts.failed += 1
        counts.errors.append(f"{row['item_id']}: {error}")


def _sender(target: WebhookTarget | NotifyTarget, crew: str, settings: Settings,
            sleep: Callable[[float], None]) -> Send:
    if isinstance(target, WebhookTarget):
        def post(key: str, payload: dict[str, Any]) -> tuple[bool, int, str | None]:
            result = post_with_retries(target, key, str(payload.get("item_id")), payload, BACKOFF_S, sleep)
            return result.outcome == "sent", result.attempts, result.error
        return post
    if target.tool:
        return _tool_sender(target, settings, sleep)
    return _file_sender(target, notify_path(target, crew, settings), sleep)


def _file_sender(target: NotifyTarget, path: Path, sleep: Callable[[float], None]) -> Send:
    written: set[str] | None = None

    def once(key: str, payload: dict[str, Any]) -> str | None:
        nonlocal written
        if written is None:
            written = keys_in(path)  # read once a run: what a crashed run wrote but did not mark
        if key not in written:
            try:
                append_line(path, key, payload)
            except OSError as exc:
                return f"cannot append to {path}: {exc.strerror or exc}"
            written.add(key)
        return None

    return lambda key, payload: _retried(target.max_attempts, sleep, lambda: once(key, payload))


def _tool_sender(target: NotifyTarget, settings: Settings, sleep: Callable[[float], None]) -> Send:
    from etlcrew.tools.registry import discover, load_tool

    info = discover(settings.project_dir).get(str(target.tool))
    if info is None:  # validate refuses it; a tool file removed since fails its deliveries, with the reason
        missing = f"no tool named '{target.tool}' in tools/"
        return lambda key, payload: (False, 1, missing)
    tool = load_tool(info)
    return lambda key, payload: _retried(target.max_attempts, sleep,
                                         lambda: call_tool(tool, info.args, key, payload))


def _retried(attempts: int, sleep: Callable[[float], None],
             once: Callable[[], str | None]) -> tuple[bool, int, str | None]:
    """``once`` (the error or None) up to ``attempts`` times, with the webhook's backoff between tries."""
    policy = RetryPolicy(attempts=attempts, backoff_s=BACKOFF_S, max_backoff_s=30.0, jitter=0.0)
    error = None
    for attempt in range(1, attempts + 1):
        error = once()
        if error is None:
            return True, attempt, None
        if attempt < attempts:
            sleep(delay_for(attempt, policy, _STEADY))
    return False, attempts, error
