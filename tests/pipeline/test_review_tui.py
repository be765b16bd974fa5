"""The interactive review driven through a pseudo-terminal (pexpect): a person clears a queue of three held
items with the keys alone, in two sittings; each decision is in the tables and the ledger at once."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import duckdb
import pytest
from review_fixtures import HELD, three_alike

pexpect = pytest.importorskip("pexpect")
ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Enter accept"


def spawn(*args: str):  # type: ignore[no-untyped-def]
    env = dict(os.environ) | {"TERM": "xterm", "USER": "tester"}
    return pexpect.spawn(sys.executable, [str(ROOT / "main.py"), "review", *args], env=env, cwd=str(ROOT),
                         dimensions=(50, 150), encoding="utf-8", timeout=60)


def test_a_person_clears_the_queue_with_the_keys(project_dir: Path, scripted, cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                 isolated_state: Path) -> None:
    scripted("alike", default=three_alike)
    assert cli("run", "--model", "scripted/alike", "--json").json["items"]["review"] == 3

    first = spawn()
    first.expect("0001-double-charge.eml")
    first.expect("summary repeated verbatim")
    first.expect(PROMPT)
    first.send("3")  # category ...
    first.expect("1 billing   2 bug")
    first.send("2")  # ... is bug
    first.expect(r"bug  \(model: ")
    first.expect(PROMPT)
    first.send("\r")  # saved as a correction
    first.expect("0002-thermostat")
    first.expect(PROMPT)
    first.send("s")  # skipped: stays held
    first.expect("0003-doorbell")
    first.expect(PROMPT)
    first.send("q")
    first.expect(r"1 decided \(0 accepted, 1 corrected, 0 discarded\), 2 still held")
    first.expect(pexpect.EOF)
    first.close()
    assert first.exitstatus == 0

    second = spawn()
    second.expect("0002-thermostat")
    second.expect(PROMPT)
    second.send("e")
    second.expect("edit which field")
    second.send("6")  # summary
    second.expect("summary \\(now: ")
    second.send("Thermostat drifts two degrees\r")
    second.expect("Thermostat drifts two degrees")
    second.expect(PROMPT)
    second.send("\r")
    second.expect("0003-doorbell")
    second.expect(PROMPT)
    second.send("d")
    second.expect(r"2 decided \(0 accepted, 1 corrected, 1 discarded\), 0 still held")
    second.expect(pexpect.EOF)
    second.close()
    assert second.exitstatus == 0

    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        tickets = dict(con.execute("SELECT item_id, category FROM etlcrew.tickets").fetchall())
        summary = con.execute("SELECT summary FROM etlcrew.tickets WHERE item_id=?", [HELD[1]]).fetchone()[0]
        held = con.execute("SELECT count(*) FROM etlcrew.tickets__review").fetchone()[0]
    assert tickets[HELD[0]] == "bug" and summary == "Thermostat drifts two degrees"
    assert HELD[2] not in tickets and held == 0
    with sqlite3.connect(isolated_state / "ledger.db") as db:
        decided = db.execute("SELECT item_id, decision, reviewer FROM reviews ORDER BY id").fetchall()
    assert decided == [(HELD[0], "correct", "tester"), (HELD[1], "correct", "tester"), (HELD[2], "discard", "tester")]
    again = cli("run", "--model", "scripted/alike", "--json").json
    assert again["llm"]["calls"] == 0, "a re-run spends no call on decided items"
