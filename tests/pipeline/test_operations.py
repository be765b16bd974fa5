"""Operations with real processes and stores: two runs of one crew at once, a lock left by SIGKILL, a DuckDB file
held by another program, a full disk (a real tmpfs), dlt targets checked before any model call, outputs."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from yaml_edit import edit_config

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("crash_harness.py")
RUN = ["run", "--model", "scripted/crash", "--batch-size", "5", "--concurrency", "1"]


def make_project(base: Path) -> Path:
    project = base / "project"
    shutil.copytree(ROOT / "config", project / "config")
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("*.sqlite"))
    (project / "tools").mkdir()
    return project


def child_env(base: Path, project: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "OPENAI_API_KEY", "ETLCREW_FAILPOINT")}
    return env | {"ETLCREW_HOME": str(base / "state"), "ETLCREW_OUTPUT_DIR": str(base / "output"),
                  "ETLCREW_PROJECT_DIR": str(project), "PYTHONPATH": str(ROOT)} | extra


def start(base: Path, project: Path, args: list[str], extra: dict[str, str] | None = None,
          prefix: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen([*prefix, sys.executable, str(HARNESS), *args],
                            env=child_env(base, project, extra or {}), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def ledger(base: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with closing(sqlite3.connect(base / "state" / "ledger.db")) as db:
        return db.execute(sql).fetchall()


def wait_for_calls(base: Path, process: subprocess.Popen[str], calls: int = 1) -> str:
    """Wait until the run has made ``calls`` model calls; returns its run id."""
    db = base / "state" / "ledger.db"
    for _ in range(1500):
        if process.poll() is not None:
            raise AssertionError(process.communicate()[1][-3000:])
        if db.exists():
            try:
                rows = ledger(base, "SELECT run_id, count(*) FROM model_calls GROUP BY run_id")
            except sqlite3.OperationalError:
                rows = []
            if rows and rows[0][1] >= calls:
                return rows[0][0]
        time.sleep(0.2)
    raise AssertionError("the first run made no model call")


def test_a_second_run_of_the_crew_stops_before_any_model_call_naming_the_first(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = start(tmp_path, project, RUN, {"CRASH_SLOW_S": "0.4"})
    try:
        holder = wait_for_calls(tmp_path, first)
        calls = ledger(tmp_path, "SELECT count(*) FROM model_calls")[0][0]
        second = start(tmp_path, project, [*RUN, "--json"])
        out, err = second.communicate(timeout=300)
        assert second.returncode == 4, err[-3000:]
        assert holder in err and "busy" in err and "Traceback" not in err
        assert out == ""
        runs = ledger(tmp_path, "SELECT run_id FROM runs")
        assert runs == [(holder,)], "the loser wrote no run to the ledger"
        calls_by_run = ledger(tmp_path, "SELECT DISTINCT run_id FROM model_calls")
        assert calls_by_run == [(holder,)], "the loser made 0 model calls"
        assert ledger(tmp_path, "SELECT count(*) FROM model_calls")[0][0] >= calls
    finally:
        first.kill()
        first.communicate(timeout=60)


def test_a_run_killed_by_sigkill_does_not_wedge_its_crew(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = start(tmp_path, project, RUN, {"CRASH_SLOW_S": "0.4"})
    killed = wait_for_calls(tmp_path, first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    done = start(tmp_path, project, ["resume", killed, "--json"])
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-3000:]
    assert json.loads(out)["items"]["loaded"] == 30


def test_a_duckdb_file_held_by_another_program_stops_the_run_before_any_model_call(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (tmp_path / "output").mkdir()
    db = tmp_path / "output" / "support_inbox.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(120)", str(db)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        run = start(tmp_path, project, RUN)
        _out, err = run.communicate(timeout=300)
        assert run.returncode == 1, err[-3000:]
        said = " ".join(err.split())
        assert err.count("error:") == 1 and f"{db}: the file is open in another program" in said, err
        assert f"(PID {holder.pid})" in said
        assert "<class" not in err and "Traceback" not in err
        assert not (tmp_path / "state" / "ledger.db").exists() or not ledger(tmp_path, "SELECT * FROM model_calls")
    finally:
        holder.kill()
        holder.wait(timeout=60)


def can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs root to mount a tiny tmpfs in its own mount namespace")
def test_a_full_disk_is_one_message_exit_1_and_the_run_resumes(tmp_path: Path) -> None:
    """The output folder is a 256 KiB tmpfs in the child's own mount namespace (gone when it exits)."""
    project = make_project(tmp_path)
    tiny = tmp_path / "output"
    tiny.mkdir()
    script = f"mount -t tmpfs -o size=256k tmpfs {tiny} && exec \"$@\""
    run = start(tmp_path, project, ["run", "--model", "scripted/crash"], prefix=("unshare", "-m", "sh", "-c",
                                                                                  script, "sh"))
    _out, err = run.communicate(timeout=300)
    assert run.returncode == 1, err[-3000:]
    assert err.count("error:") == 1 and "no space left on device" in " ".join(err.split()), err[-3000:]
    assert "Traceback" not in err and "<class" not in err and len(err.splitlines()) < 15, err[-3000:]
    (run_id,) = ledger(tmp_path, "SELECT run_id FROM runs WHERE status = 'failed'")[0]
    assert f"resume {run_id}" in err
    done = start(tmp_path, project, ["resume", run_id, "--json"])  # the disk has room again (a plain folder)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-3000:]
    assert json.loads(out)["items"]["loaded"] == 30


POSTGRES = "    - type: dlt\n      destination: {name}\n"


def targets_with(project_dir: Path, text: str) -> None:
    edit_config(project_dir / "config" / "crews.yaml", "  targets:\n    - type: duckdb\n    - type: report\n",
                "  targets:\n" + text + "    - type: report\n")


@pytest.mark.parametrize("destination", ["postgres", "sqlalchemy"])
def test_a_dlt_target_without_its_package_or_credentials_exits_2_before_any_model_call(
        project_dir: Path, cli, isolated_state: Path, destination: str,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("DESTINATION__", "CREDENTIALS")):
            monkeypatch.delenv(name)
    targets_with(project_dir, POSTGRES.format(name=destination))
    code, _, err = cli("run", "--model", "scripted/sample")
    err = " ".join(err.split())  # the console wraps long lines
    assert code == 2, err
    if destination == "postgres" and importlib.util.find_spec("psycopg2") is None:
        assert 'pip install -e ".[postgres]"' in err
    else:
        assert f"DESTINATION__{destination.upper()}__CREDENTIALS" in err and ".env" in err
    assert "Traceback" not in err
    assert not (isolated_state / "ledger.db").exists(), "no ledger write, so no model call"
    assert cli("validate").code == 2


def test_outputs_list_every_file_the_run_wrote(project_dir: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    targets_with(project_dir, "    - type: sqlite\n    - type: jsonl\n    - type: parquet\n")
    result = cli("run", "--model", "scripted/sample", "--json")
    assert result.code == 0, result.err
    outputs = result.json["outputs"]
    written = sorted(str(p) for p in (tmp_path / "output").iterdir())
    assert sorted(outputs) == written, "every file in output/ is listed, and nothing else"
    assert not any("staging" in name for name in written)
    assert {Path(p).suffix for p in outputs} == {".sqlite", ".jsonl", ".parquet", ".md", ".svg"}
