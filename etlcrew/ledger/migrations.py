"""Numbered schema migrations: each runs once, in order, in one transaction with its row in ``migrations``.

Never edit a released migration's statements; add the next number.
"""

from __future__ import annotations

import sqlite3

M001_INITIAL = """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            crew TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            inputs_json TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            models_json TEXT NOT NULL DEFAULT '[]',
            extracted INTEGER NOT NULL DEFAULT 0,
            loaded INTEGER NOT NULL DEFAULT 0,
            quarantined INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            calls INTEGER NOT NULL DEFAULT 0,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            duration_s REAL,
            error TEXT
        );
        CREATE INDEX runs_by_crew ON runs (crew, started_at);
        CREATE TABLE items (
            crew TEXT NOT NULL,
            item_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('loaded', 'quarantined')),
            reason TEXT,
            run_id TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (crew, item_id)
        );
        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL,
            error TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX model_calls_by_run ON model_calls (run_id);
    """


# Resume needs the run's options, each batch's members and finished phase outputs, and sent webhooks.
M002_DURABLE_RUNS = """
        ALTER TABLE runs ADD COLUMN options_json TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE runs ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN failed_calls INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN pid INTEGER;
        ALTER TABLE runs ADD COLUMN process TEXT;
        ALTER TABLE runs ADD COLUMN outputs_json TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE batches (
            run_id TEXT NOT NULL,
            batch_no INTEGER NOT NULL,
            items_json TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('running', 'done', 'landed')),
            outcome_json TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (run_id, batch_no)
        );
        CREATE TABLE batch_phases (
            run_id TEXT NOT NULL,
            batch_no INTEGER NOT NULL,
            phase TEXT NOT NULL,
            output_json TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            PRIMARY KEY (run_id, batch_no, phase)
        );
        ALTER TABLE model_calls ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE model_calls ADD COLUMN batch_no INTEGER;
        ALTER TABLE model_calls ADD COLUMN agent TEXT;
        ALTER TABLE model_calls ADD COLUMN task TEXT;
        CREATE TABLE webhook_deliveries (
            idempotency_key TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            url TEXT NOT NULL,
            item_id TEXT NOT NULL,
            delivered_at TEXT NOT NULL
        );
    """


# An item may end held for review (a valid record a person should check): SQLite cannot change a CHECK, so the items
# table is rebuilt with its rows; runs count their review items.
M003_REVIEW_STATE = """
        CREATE TABLE items_new (
            crew TEXT NOT NULL,
            item_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('loaded', 'quarantined', 'review')),
            reason TEXT,
            run_id TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (crew, item_id)
        );
        INSERT INTO items_new SELECT crew, item_id, content_hash, config_hash, state, reason, run_id, updated_at
            FROM items;
        DROP TABLE items;
        ALTER TABLE items_new RENAME TO items;
        ALTER TABLE runs ADD COLUMN review INTEGER NOT NULL DEFAULT 0;
    """


# A person's decisions on held items (``ledger.reviews``): the model's suggestion (value and probability per field)
# kept beside the person's final values, never merged; items a person decided are 'reviewed' or 'discarded' (the
# items table is rebuilt, as in m003, to widen its CHECK).
M005_REVIEWS = """
        CREATE TABLE items_new (
            crew TEXT NOT NULL,
            item_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('loaded', 'quarantined', 'review', 'reviewed', 'discarded')),
            reason TEXT,
            run_id TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (crew, item_id)
        );
        INSERT INTO items_new SELECT crew, item_id, content_hash, config_hash, state, reason, run_id, updated_at
            FROM items;
        DROP TABLE items;
        ALTER TABLE items_new RENAME TO items;
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            crew TEXT NOT NULL,
            item_id TEXT NOT NULL,
            run_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            reason TEXT,
            suggestion_json TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accept', 'correct', 'discard')),
            final_json TEXT,
            reviewer TEXT NOT NULL,
            decided_at TEXT NOT NULL
        );
        CREATE INDEX reviews_by_item ON reviews (crew, item_id, id);
        CREATE INDEX reviews_by_run ON reviews (run_id);
    """


# Action targets deliver through an outbox: one row per (crew, target, item, content), enqueued before it is sent,
# with its status, attempts and last error. Sent webhooks move in as delivered, so none is sent again; their content
# is the item's as last loaded (the old key did not hold it).
M006_OUTBOX = """
        CREATE TABLE deliveries (
            idempotency_key TEXT PRIMARY KEY,
            crew TEXT NOT NULL,
            target TEXT NOT NULL,
            item_id TEXT NOT NULL,
            content_hash TEXT,
            run_id TEXT NOT NULL,
            payload_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'given_up')),
            attempts INTEGER NOT NULL DEFAULT 0,
            rounds INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_run_id TEXT,
            enqueued_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            delivered_at TEXT
        );
        CREATE UNIQUE INDEX deliveries_once ON deliveries (crew, target, item_id, content_hash);
        CREATE INDEX deliveries_open ON deliveries (crew, target, status);
        CREATE INDEX deliveries_by_run ON deliveries (run_id);
        CREATE INDEX deliveries_by_last_run ON deliveries (last_run_id);
        INSERT OR IGNORE INTO deliveries
            SELECT w.idempotency_key, COALESCE(r.crew, ''), 'webhook:' || w.url, w.item_id,
                   (SELECT i.content_hash FROM items i WHERE i.crew = r.crew AND i.item_id = w.item_id),
                   w.run_id, '{}', 'delivered', 1, 1, NULL, w.run_id, w.delivered_at, w.delivered_at, w.delivered_at
            FROM webhook_deliveries w LEFT JOIN runs r ON r.run_id = w.run_id;
    """


# ``process: graph``: each model output memoised by (run, item, phase, attempt), so a node LangGraph runs again
# after a crash costs no model call; per item, the route it took and whether it waits for approval.
M008_GRAPH = """
        CREATE TABLE graph_outputs (
            run_id TEXT NOT NULL,
            item_id TEXT NOT NULL,
            phase TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            output_json TEXT NOT NULL,
            saved_at TEXT NOT NULL,
            PRIMARY KEY (run_id, item_id, phase, attempt)
        );
        CREATE TABLE graph_items (
            run_id TEXT NOT NULL,
            item_id TEXT NOT NULL,
            route_json TEXT NOT NULL DEFAULT '[]',
            waiting TEXT,
            approved_at TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (run_id, item_id)
        );
    """


MIGRATIONS: list[tuple[int, str]] = [
    (1, M001_INITIAL),
    (2, M002_DURABLE_RUNS),
    (3, M003_REVIEW_STATE),
    (5, M005_REVIEWS),
    (6, M006_OUTBOX),
    (8, M008_GRAPH),
]


def migrate(db: sqlite3.Connection, upto: int | None = None) -> list[int]:
    """Apply every migration not yet recorded (up to ``upto``, for tests that build an older ledger); returns the
    numbers applied now."""
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS migrations (number INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT number FROM migrations")}
    applied = []
    for number, script in MIGRATIONS:
        if number in done or (upto is not None and number > upto):
            continue
        _apply(db, number, script)
        applied.append(number)
    return applied


def _apply(db: sqlite3.Connection, number: int, script: str) -> None:
    """One transaction holds a migration's statements and its ``migrations`` row: ``executescript`` alone commits
    statement by statement, so a migration that failed half-way (a full disk) left tables behind that the next open
    tripped over ('table runs already exists'). Now it is rolled back whole and applies cleanly next time."""
    try:
        db.executescript(f"BEGIN;\n{script}\nINSERT INTO migrations VALUES ({int(number)}, datetime('now'));\nCOMMIT;")
    except sqlite3.Error:
        if db.in_transaction:
            db.rollback()
        raise
