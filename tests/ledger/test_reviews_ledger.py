"""Migration 5 and the skip rules for held and reviewed items, on a real ledger file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from etlcrew.ledger import open_ledger
from etlcrew.ledger.migrations import migrate
from etlcrew.ledger.reviews import Decision, latest_decisions, record_decision, review_counts


def test_migration_5_keeps_the_items_of_an_older_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    db = sqlite3.connect(path)
    assert migrate(db, upto=4) == [1, 2, 3]
    db.execute("INSERT INTO items VALUES ('c', 's:1', 'h', 'cfg', 'review', 'unsure', 'R1', 'then')")
    db.commit()
    assert migrate(db)[0] == 5  # later migrations (other features) follow it
    assert db.execute("SELECT item_id, state, reason FROM items").fetchall() == [("s:1", "review", "unsure")]
    db.execute("UPDATE items SET state='reviewed'")  # the widened CHECK takes the new states
    db.close()


def test_held_items_wait_and_decided_items_stay_decided_across_config_changes(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    ledger.record_items("c", "R1", "cfg-a", [("s:1", "h1", "review", "unsure"), ("s:2", "h2", "review", "unsure")])
    assert ledger.unchanged_since_loaded("c", "s:1", "h1", "cfg-a"), "held: waits for its person"
    assert not ledger.unchanged_since_loaded("c", "s:1", "h1", "cfg-a", retry_review=True)
    assert not ledger.unchanged_since_loaded("c", "s:1", "h1", "cfg-b"), "config or model changed: asked again"
    suggestion = {"category": {"value": "bug", "probability": 0.3}}
    record_decision(ledger, Decision("c", "s:1", "R1", "h1", "cfg-a", "unsure", suggestion, "correct",
                                     {"category": "billing"}, "ana"))
    assert ledger.unchanged_since_loaded("c", "s:1", "h1", "cfg-b"), "a person's decision outranks the config"
    assert ledger.unchanged_since_loaded("c", "s:1", "h1", "cfg-a", retry_review=True)
    assert not ledger.unchanged_since_loaded("c", "s:1", "h-new", "cfg-a"), "changed content is asked again"
    decided = latest_decisions(ledger, "c")
    assert [(d["item_id"], d["decision"], d["suggestion"], d["final"]) for d in decided] == [
        ("s:1", "correct", suggestion, {"category": "billing"})]
    assert review_counts(ledger, "c") == {"reviewed by a person": 1, "waiting for review": 1}
    ledger.record_items("c", "R2", "cfg-b", [("s:1", "h1", "loaded", None)])  # e.g. --full-refresh, same text
    assert [d["item_id"] for d in latest_decisions(ledger, "c")] == ["s:1"], "the person's label stands"
    ledger.record_items("c", "R3", "cfg-b", [("s:1", "h-new", "loaded", None)])
    assert latest_decisions(ledger, "c") == [], "a label for other text is no label"
    ledger.close()
