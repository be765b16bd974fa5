"""Kill -9 at many points of a run, then ``resume``: the targets end exactly as after a clean run.

Each case runs the default crew in a child process (``crash_harness.py``: the scripted model in place of the
LLM; DuckDB, the report and a loopback webhook receiver are real), kills it with SIGKILL at one point, resumes it
in a new process, and compares with a clean run: same keys, no duplicate rows, nothing lost, and no webhook
delivered twice. The child processes of all cases run side by side to keep the wall time down.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from yaml_edit import edit_config, with_researcher

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("crash_harness.py")

# (case name, environment that kills the first run)
KILL_POINTS = [
    ("during a model call of extract", {"ETLCREW_FAILPOINT": "model-call:5"}),
    ("between extract and transform", {"ETLCREW_FAILPOINT": "phase:extract:3"}),
    ("between transform and load", {"ETLCREW_FAILPOINT": "phase:transform:2"}),
    ("batch outcome committed, not loaded", {"ETLCREW_FAILPOINT": "batch-done:2"}),
    ("rows in the target, ledger not told", {"ETLCREW_FAILPOINT": "mid-load:2"}),
    ("after a load was recorded", {"ETLCREW_FAILPOINT": "landed:1"}),
    ("between two webhooks", {"ETLCREW_FAILPOINT": "webhook:3"}),
    ("before the run is marked finished", {"ETLCREW_FAILPOINT": "finish"}),
]


class Receiver:
    """A webhook endpoint on 127.0.0.1 that remembers every delivery: (idempotency key, item_id)."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                owner.keys.append((self.headers["Idempotency-Key"], body["item_id"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture(scope="module")
def receivers() -> Iterator[dict[str, Receiver]]:
    made: dict[str, Receiver] = {}
    yield made
    for receiver in made.values():
        receiver.server.shutdown()


def make_project(base: Path, hook_url: str) -> Path:
    """A copy of the shipped project whose webhook target is on and posts every record to ``hook_url``."""
    project = base / "project"
    shutil.copytree(ROOT / "config", project / "config")
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("*.sqlite"))
    (project / "tools").mkdir()
    crews = project / "config" / "crews.yaml"
    edit_config(crews, "      url: http://127.0.0.1:8765/hooks/urgent\n      when: \"urgency == 'urgent'\"\n"
                "      enabled: false\n", f"      url: {hook_url}\n")
    # all three phases, so there is a kill point between each (the shipped inbox crew leaves extract to code)
    with_researcher(project)
    # land each batch as it finishes, so the kill points between landings are reached
    edit_config(crews, "  batch_size: 10\n", "  batch_size: 10\n  land_interval_s: 0\n")
    return project


def child_env(base: Path, project: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ETLCREW_FAILPOINT", "MODEL")}
    return env | {"ETLCREW_PROJECT_DIR": str(project), "ETLCREW_HOME": str(base / "state"),
                  "ETLCREW_OUTPUT_DIR": str(base / "output"), **extra}


def start(base: Path, project: Path, args: list[str], extra: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HARNESS), *args], env=child_env(base, project, extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --debug: an unexpected error in a child prints its traceback, which the failing assertion shows
RUN = ["--debug", "run", "--model", "scripted/crash", "--batch-size", "5", "--json"]


def run_ids(base: Path) -> list[str]:
    with sqlite3.connect(base / "state" / "ledger.db") as db:
        return [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY run_id")]


def target_rows(base: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(base / "output" / "support_inbox.duckdb"), read_only=True) as con:
        return con.execute("SELECT item_id, category FROM etlcrew.tickets ORDER BY item_id").fetchall()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, receivers: dict[str, Receiver]) -> dict[str, dict]:  # type: ignore[type-arg]
    """Every case crashed then resumed, plus one clean run: per case, what the target and receiver hold."""
    cases = [("clean", {}), *KILL_POINTS]
    bases = {}
    for name, _ in cases:
        receivers[name] = Receiver()
        base = tmp_path_factory.mktemp("crash")
        bases[name] = (base, make_project(base, receivers[name].url))
    first = {name: start(*bases[name], RUN, extra) for name, extra in cases}
    results: dict[str, dict] = {}  # type: ignore[type-arg]
    for name, process in first.items():
        out, err = process.communicate(timeout=600)
        results[name] = {"first_code": process.returncode, "first_err": err, "first_out": out}
    resumed = {}
    for name, _ in KILL_POINTS:
        base, project = bases[name]
        ids = run_ids(base)
        assert len(ids) == 1, (name, results[name]["first_err"][-2000:])
        results[name]["run_id"] = ids[0]
        with sqlite3.connect(base / "state" / "ledger.db") as db:
            results[name]["committed"] = set(db.execute("SELECT batch_no, phase FROM batch_phases").fetchall())
            results[name]["last_call"] = db.execute("SELECT coalesce(max(id), 0) FROM model_calls").fetchone()[0]
        resumed[name] = start(base, project, ["--debug", "resume", ids[0], "--json"], {})
    for name, process in resumed.items():
        out, err = process.communicate(timeout=600)
        results[name] |= {"code": process.returncode, "err": err, "summary": json.loads(out) if out else None}
    for name, _ in cases:
        base, _project = bases[name]
        results[name] |= {"rows": target_rows(base), "deliveries": list(receivers[name].keys), "base": base}
    return results


def test_the_clean_run_loads_every_item_and_notifies_each_once(outcomes: dict[str, dict]) -> None:  # type: ignore[type-arg]
    clean = outcomes["clean"]
    assert clean["first_code"] == 0, clean["first_err"][-2000:]
    assert len(clean["rows"]) == 30 and len({r[0] for r in clean["rows"]}) == 30
    assert len(clean["deliveries"]) == 30 and len(set(clean["deliveries"])) == 30


@pytest.mark.parametrize("case", [name for name, _ in KILL_POINTS])
def test_kill_then_resume_equals_a_clean_run(outcomes: dict[str, dict], case: str) -> None:  # type: ignore[type-arg]
    result, clean = outcomes[case], outcomes["clean"]
    assert result["first_code"] == -9, f"the first run was not killed: {result['first_err'][-2000:]}"
    assert result["code"] == 0, result["err"][-3000:]
    assert result["rows"] == clean["rows"], "target rows differ from a clean run's"
    twice = [key for key, n in Counter(result["deliveries"]).items() if n > 1]
    assert not twice, f"webhooks delivered more than once: {twice}"
    delivered = sorted(item for _, item in result["deliveries"])
    assert delivered == sorted(item for _, item in clean["deliveries"]), "a webhook was lost"
    summary = result["summary"]
    assert summary["status"] == "succeeded" and summary["run_id"] == result["run_id"]
    assert summary["items"] | {"pending": 0} == {"extracted": 30, "loaded": 30, "quarantined": 0, "skipped": 0,
                                                  "review": 0, "pending": 0}


def test_resume_redoes_no_committed_phase(outcomes: dict[str, dict]) -> None:  # type: ignore[type-arg]
    """No model call after the resume belongs to a batch-phase committed before the kill."""
    for case, _ in KILL_POINTS:
        result = outcomes[case]
        with sqlite3.connect(result["base"] / "state" / "ledger.db") as db:
            later = set(db.execute("SELECT batch_no, task FROM model_calls WHERE id > ?",
                                   (result["last_call"],)).fetchall())
        assert not later & result["committed"], (case, later & result["committed"])
    assert outcomes["between transform and load"]["committed"], "the case had committed phases to reuse"


def test_resuming_a_finished_run_changes_nothing(outcomes: dict[str, dict]) -> None:  # type: ignore[type-arg]
    result = outcomes["between two webhooks"]
    base = result["base"]
    before = target_rows(base)
    with sqlite3.connect(base / "state" / "ledger.db") as db:
        calls_before = db.execute("SELECT count(*) FROM model_calls").fetchone()
    done = subprocess.run([sys.executable, str(HARNESS), "resume", result["run_id"]], text=True,
                          capture_output=True, env=child_env(base, base / "project", {}), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "already finished (succeeded): nothing to resume" in done.stderr
    assert "30 loaded" in done.stdout
    assert target_rows(base) == before
    with sqlite3.connect(base / "state" / "ledger.db") as db:
        assert db.execute("SELECT count(*) FROM model_calls").fetchone() == calls_before


@pytest.mark.parametrize(("sent", "code", "said"), [(signal.SIGINT, 130, "error: interrupted"),
                                                    (signal.SIGTERM, 143, "error: terminated (SIGTERM)")])
def test_ctrl_c_or_sigterm_commits_exits_130_or_143_with_the_resume_command_and_resume_finishes(
        tmp_path: Path, sent: signal.Signals, code: int, said: str) -> None:
    """SIGTERM is what kill, systemd, Docker and CI send: the run stops as on Ctrl-C."""
    receiver = Receiver()
    try:
        project = make_project(tmp_path, receiver.url)
        process = start(tmp_path, project, ["run", "--model", "scripted/crash", "--batch-size", "5",
                                            "--concurrency", "1"], {"CRASH_SLOW_S": "0.3"})
        ledger = tmp_path / "state" / "ledger.db"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if ledger.exists():
                with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(ledger) as db:
                    if db.execute("SELECT count(*) FROM batches WHERE state = 'landed'").fetchone()[0] >= 1:
                        break
            time.sleep(0.2)
        process.send_signal(sent)
        _out, err = process.communicate(timeout=300)
        assert process.returncode == code, err[-3000:]
        (run_id,) = run_ids(tmp_path)
        assert f"python main.py resume {run_id}" in err
        assert said in err and "Traceback" not in err, err[-3000:]
        with sqlite3.connect(ledger) as db:
            assert db.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
        assert 0 < len(target_rows(tmp_path)) < 30
        done = start(tmp_path, project, ["resume", run_id, "--json"], {})
        out, err = done.communicate(timeout=300)
        assert done.returncode == 0, err[-3000:]
        assert json.loads(out)["items"]["loaded"] == 30
        assert len(target_rows(tmp_path)) == 30
        assert len(receiver.keys) == len({key for key, _ in receiver.keys}) == 30
    finally:
        receiver.server.shutdown()


def test_the_runs_digest_call_is_made_once_across_crashes(outcomes: dict[str, dict]) -> None:  # type: ignore[type-arg]
    """One digest call per run: killed before it, the resume makes it; killed after it was committed (at
    ``finish``), the resume reuses it."""
    for case, _ in KILL_POINTS:
        result = outcomes[case]
        with sqlite3.connect(result["base"] / "state" / "ledger.db") as db:
            loads = db.execute("SELECT count(*) FROM model_calls WHERE task = 'load' AND error IS NULL").fetchone()
        assert loads == (1,), case
        outcome = result["summary"]["outcome"]
        assert outcome["digest"].startswith("30 items processed in this run: 30 loaded"), (case, outcome)
