"""``--executor ray``: the default crew on a real single-node Ray cluster gives the local executor's rows, and a
worker killed mid-batch leaves no duplicate and loses nothing (the scripted model stands in for the LLM)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

ray = pytest.importorskip("ray", reason="the ray extra is part of .[dev]")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local cluster for the module (Ray's local mode no longer exists)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def rows(output: Path) -> list[tuple]:  # type: ignore[type-arg]
    with duckdb.connect(str(output / "support_inbox.duckdb"), read_only=True) as con:
        return con.execute("SELECT item_id, customer, product, category, urgency, sentiment, summary "
                           "FROM etlcrew.tickets ORDER BY item_id").fetchall()


def test_ray_gives_the_local_executors_rows(cluster, project_dir: Path, tmp_path: Path, cli,  # type: ignore[no-untyped-def]
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = cli("run", "--model", "scripted/sample", "--json")
    assert first.code == 0, first.err[-3000:]
    monkeypatch.setenv("ETLCREW_OUTPUT_DIR", str(tmp_path / "ray-output"))
    second = cli("run", "--model", "scripted/sample", "--executor", "ray", "--full-refresh", "--json")
    assert second.code == 0, second.err[-3000:]
    local, remote = first.json, second.json
    assert remote["items"] == local["items"] and remote["items"]["loaded"] == 30
    assert remote["llm"]["calls"] == local["llm"]["calls"] == 31, "each worker call reaches the ledger once"
    assert remote["llm"] == local["llm"], "the same calls: tokens and cost too, not only their number"
    assert rows(tmp_path / "ray-output") == rows(tmp_path / "output")


def ledger_calls(state: Path, run_id: str) -> list[tuple]:  # type: ignore[type-arg]
    import sqlite3

    with sqlite3.connect(state / "ledger.db") as con:
        return con.execute("SELECT batch_no, task, prompt_tokens, completion_tokens FROM model_calls "
                           "WHERE run_id = ? AND error IS NULL", (run_id,)).fetchall()


def test_a_budget_holds_across_workers_and_resumes_without_paying_twice(  # type: ignore[no-untyped-def]
        cluster, project_dir: Path, cli, isolated_state: Path) -> None:
    """Workers reserve every call from the run's gate: the limit is the run's, not each worker's; what a stopped
    task finished (its transform parts) is committed, so the resume asks only for the rest."""
    stopped = cli("run", "--model", "scripted/sample", "--executor", "ray", "--max-llm-calls", "10", "--json")
    assert stopped.code == 3, stopped.err[-3000:]
    first = stopped.json
    assert first["status"] == "stopped" and first["llm"]["calls"] == 10
    assert len(ledger_calls(isolated_state, first["run_id"])) == 10
    assert "spent 10 calls of 10" in first["error"]
    done = cli("resume", first["run_id"], "--max-llm-calls", "1000", "--json")
    assert done.code == 0, done.err[-3000:]
    assert done.json["items"]["loaded"] == 30
    calls = ledger_calls(isolated_state, first["run_id"])
    assert len(calls) == done.json["llm"]["calls"] == 31, "30 transform calls and the digest, none paid twice"


def test_a_worker_killed_mid_batch_leaves_no_duplicates(cluster, project_dir: Path, tmp_path: Path, cli,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster's workers were started before the failpoint was set: it reaches them with the job."""
    marker = tmp_path / "worker-killed"
    monkeypatch.setenv("ETLCREW_FAILPOINT", f"ray-worker-phase@{marker}")  # the first worker to finish a phase dies
    result = cli("run", "--model", "scripted/sample", "--executor", "ray", "--batch-size", "5", "--json")
    assert result.code == 0, result.err[-3000:]
    summary = result.json
    assert marker.exists(), "a worker did kill itself mid-batch"
    assert summary["status"] == "succeeded" and summary["items"]["loaded"] == 30
    loaded = rows(tmp_path / "output")
    assert len(loaded) == len({r[0] for r in loaded}) == 30


def test_a_local_cluster_is_quiet_and_leaves_no_files(project_dir: Path, tmp_path: Path) -> None:
    """A real CLI process starting its own cluster: no Ray notice on stderr, no session folder left in Ray's temp
    folder, no token written to ``~/.ray``."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths must stay < 108 bytes
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {"HOME": str(tmp_path / "home"), "RAY_TMPDIR": str(ray_tmp), "ETLCREW_PROJECT_DIR": str(project_dir)}
    try:
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--model", "scripted/sample",
                               "--executor", "ray"], env=env, capture_output=True, text=True, timeout=600)
        left = sorted(p.name for p in (ray_tmp / "ray").glob("session_*"))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "status succeeded" in done.stdout
    for noise in ("Token authentication", "8.8.8.8", "gcs_client", "WARNING", "INFO"):
        assert noise not in done.stderr, f"Ray printed {noise!r}: {done.stderr[-2000:]}"
    assert left == [], "the run's Ray session folder is removed"
    assert not (tmp_path / "home" / ".ray").exists(), "no token file outside the project"


def test_ray_without_the_extra_is_a_clear_error(project_dir: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    code, _, err = cli("run", "--executor", "ray")
    assert code == 2
    assert 'pip install -e ".[ray]"' in err


def test_an_unreachable_cluster_fails_fast_and_names_the_address(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("run", "--executor", "ray", "--ray-address", "127.0.0.1:1")
    assert code == 1
    assert "no Ray cluster answers at 127.0.0.1:1" in err and "Traceback" not in err


def test_ray_is_touched_only_when_a_batch_needs_a_worker(cluster, project_dir: Path, cli,  # type: ignore[no-untyped-def]
                                                         isolated_state: Path) -> None:
    """Lazy start: an unchanged re-run has no batch to run, so it starts (or joins) no cluster; the trace says
    when Ray was made ready and how long it took."""
    import json

    def ready_events(run_id: str) -> list[dict]:  # type: ignore[type-arg]
        lines = (isolated_state / "traces" / f"{run_id}.jsonl").read_text(encoding="utf-8").splitlines()
        return [e for e in map(json.loads, lines) if e["type"] == "executor_ready"]

    first = cli("run", "--model", "scripted/sample", "--executor", "ray", "--json")
    assert first.code == 0, first.err[-3000:]
    again = cli("run", "--model", "scripted/sample", "--executor", "ray", "--json")
    assert again.code == 0, again.err[-3000:]
    assert again.json["items"]["skipped"] == 30
    assert len(ready_events(first.json["run_id"])) == 1
    assert ready_events(again.json["run_id"]) == [], "nothing to run: Ray was not touched"
