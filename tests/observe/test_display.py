"""What a run shows: plain lines when piped, a live panel on a terminal, nothing extra with --json."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from etlcrew.observe.display import RunProgress
from etlcrew.observe.events import RunEvent

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "pipeline" / "crash_harness.py"
ANSI = re.compile(r"\x1b\[")


def event(kind: str, **fields: object) -> RunEvent:
    return RunEvent(kind, "run", **fields)  # type: ignore[arg-type]


def test_progress_counts_and_eta() -> None:
    progress = RunProgress()
    progress.started -= 10  # ten seconds in
    progress.update(event("batch_started", batch=1))
    progress.update(event("llm_call", prompt_tokens=100, completion_tokens=20))
    progress.update(event("llm_call_failed", error="timeout"))
    assert progress.eta() is None, "no ETA before the total is known"
    progress.update(event("items_total", detail={"total": 40, "skipped": 0}))
    progress.update(event("landed", detail={"loaded": 9, "quarantined": 1, "skipped": 0}))
    assert (progress.calls, progress.failed_calls, progress.tokens, progress.items_done) == (1, 1, 120, 10)
    assert 25 <= progress.eta() <= 35  # 10 items in ~10 s, 30 to go  # type: ignore[operator]
    assert "items 10/40" in progress.line() and "quarantined 1" in progress.line()


def child_env(project: Path, state: Path, output: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ETLCREW_FAILPOINT", "CRASH_AT_CALL")}
    return env | {"ETLCREW_PROJECT_DIR": str(project), "ETLCREW_HOME": str(state),
                  "ETLCREW_OUTPUT_DIR": str(output), "TERM": "xterm-256color", "COLUMNS": "120"}


def test_piped_output_is_plain_lines(project_dir: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(HARNESS), "run", "--model", "scripted/crash", "--verbose"],
                          env=child_env(project_dir, tmp_path / "s", tmp_path / "o"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not ANSI.search(done.stderr) and not ANSI.search(done.stdout), "no control codes when piped"
    assert done.stderr.isascii() or "…" in done.stderr, "no emoji"
    assert "batch 1: 10 items" in done.stderr and "loaded 30 records" in done.stderr
    assert "researcher" in done.stderr.lower() or "at work" in done.stderr, "--verbose shows agent steps"
    assert "status succeeded" in done.stdout


def test_a_terminal_shows_the_live_panel_and_the_summary(project_dir: Path, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, str(HARNESS), "run", "--model", "scripted/crash"],
                               env=child_env(project_dir, tmp_path / "s", tmp_path / "o") | {"CRASH_SLOW_S": "0.1"},
                               stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=60)
    os.close(master)
    text = seen.decode("utf-8", "replace")
    assert process.returncode == 0, text[-2000:]
    assert ANSI.search(text), "the terminal gets a live display"
    assert "at work" in text and "ETA" in text and "calls" in text
    assert "status succeeded" in text and "30 loaded" in text
