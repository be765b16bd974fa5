"""Migrations on a disk that fills up: whichever statement fails, the ledger opens and migrates cleanly later."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from etlcrew.ledger.migrations import MIGRATIONS, migrate


def _schema(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return sorted(db.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall())


def _applied(db: sqlite3.Connection) -> int:
    try:
        return len(db.execute("SELECT number FROM migrations").fetchall())
    except sqlite3.OperationalError:  # the disk filled before the migrations table was made
        return -1


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")  # as the ledger opens it
    return db


def test_a_disk_that_fills_during_any_migration_leaves_a_ledger_that_migrates_cleanly(tmp_path: Path) -> None:
    reference = _connect(tmp_path / "reference.db")
    assert migrate(reference) == [number for number, _ in MIGRATIONS]
    want = _schema(reference)
    failed_at: set[int] = set()
    for pages in range(1, 400):  # SQLite's page limit stands in for a full disk: "database or disk is full"
        path = tmp_path / f"full-{pages}.db"
        db = _connect(path)
        db.execute(f"PRAGMA max_page_count = {pages}")
        try:
            migrate(db)
        except sqlite3.OperationalError as exc:
            assert "full" in str(exc), exc
            failed_at.add(_applied(db))
            db.close()
            db = _connect(path)  # room again: the next open finishes the job
            migrate(db)
            assert _schema(db) == want, f"disk full at {pages} pages left a different schema"
            db.close()
            continue
        db.close()
        break
    else:
        raise AssertionError("the migrations never fitted in 400 pages")
    assert len(failed_at) >= 3, f"the disk filled inside too few migrations to prove anything: {failed_at}"


def test_an_older_ledger_is_brought_up_to_date_from_where_it_stopped(tmp_path: Path) -> None:
    db = _connect(tmp_path / "ledger.db")
    assert migrate(db, upto=3) == [1, 2, 3]
    assert migrate(db) == [number for number, _ in MIGRATIONS if number > 3]
    assert migrate(db) == []
