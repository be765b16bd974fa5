"""What a run shows: plain lines when piped, a live panel on a terminal, nothing extra with --json."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from terminal import screen
from yaml_edit import edit_config

from etlcrew import console
from etlcrew.observe.display import LiveDisplay
from etlcrew.observe.events import RunEvent
from etlcrew.observe.progress import RunProgress

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "pipeline" / "crash_harness.py"
ANSI = re.compile(r"\x1b\[")


def event(kind: str, **fields: object) -> RunEvent:
    return RunEvent(kind, "run", **fields)  # type: ignore[arg-type]


def batch_events(progress: RunProgress, batch: int, *events: tuple[str, dict[str, object]]) -> None:
    for kind, fields in events:
        progress.update(event(kind, batch=batch, **fields))  # type: ignore[arg-type]


def test_items_move_per_finished_phase_and_eta_comes_with_the_first_finished_batch() -> None:
    progress = RunProgress()
    progress.update(event("llm_call", prompt_tokens=100, completion_tokens=20))
    progress.update(event("llm_call_failed", error="timeout"))
    for number in (1, 2, 3):
        batch_events(progress, number, ("batch_started", {"detail": {"items": 10}}))
    progress.update(event("items_total", detail={"total": 30, "skipped": 0, "without_batch": 0}))
    batch_events(progress, 1, ("batch_running", {}), ("phase_done", {"phase": "extract"}))
    progress.work_started -= 10  # type: ignore[operator]  # ten seconds of work so far
    assert progress.items_per_phase() == [("extract", 10)], "a finished phase moves the items through it"
    assert progress.eta() is None, "no ETA before a batch has finished: its number of phases is unknown"
    batch_events(progress, 1, ("phase_done", {"phase": "transform"}), ("batch_done", {"detail": {"records": 10}}))
    assert progress.items_done == 10, "a finished batch counts before it lands"
    assert (progress.calls, progress.failed_calls, progress.tokens) == (1, 1, 120)
    eta = progress.eta()
    assert eta is not None and 19 <= eta <= 22  # 20 of 60 phase-items in ~10 s: 40 left
    assert "items 10/30" in progress.line() and "batches 1/3" in progress.line()


def test_running_counts_batches_at_work_and_at_work_names_each_phase() -> None:
    progress = RunProgress()
    for number in (1, 2, 3):  # concurrency 2: the executor holds a third one back
        batch_events(progress, number, ("batch_started", {"detail": {"items": 10}}))
    for number in (1, 2):
        batch_events(progress, number, ("batch_running", {}))
    assert (progress.running, progress.queued) == (2, 1)
    batch_events(progress, 1, ("task_started", {"phase": "load", "task": "load"}),
                 ("agent_started", {"phase": "load", "agent": "Publisher"}))
    batch_events(progress, 2, ("agent_started", {"phase": "transform", "agent": "Transformer"}))
    assert progress.at_work() == "load (Publisher), transform (Transformer)"
    batch_events(progress, 1, ("batch_done", {}))
    assert progress.at_work() == "transform (Transformer)" and progress.running == 1


def test_items_landed_without_a_batch_of_this_run_are_counted_once() -> None:
    """A resumed run: 10 items landed by the earlier attempt, 2 bad at their source, one batch of 10 reused."""
    progress = RunProgress()
    batch_events(progress, 3, ("batch_started", {"detail": {"items": 10, "resumed": True}}),
                 ("batch_done", {"detail": {"reused": True}}))
    progress.update(event("items_total", detail={"total": 22, "skipped": 0, "without_batch": 12}))
    assert progress.items_done == 10
    progress.update(event("landed", detail={"loaded": 18, "quarantined": 2, "review": 0, "skipped": 0,
                                            "batches": [3, -1]}))
    assert progress.items_done == 20 and progress.eta() is None


def test_items_are_counted_once_over_several_lands() -> None:
    """The landed totals are the run's so far, while each land names only its own batches."""
    progress = RunProgress()
    for number in (1, 2, 3):
        batch_events(progress, number, ("batch_started", {"detail": {"items": 10}}), ("batch_done", {}))
    progress.update(event("items_total", detail={"total": 30, "skipped": 0}))
    progress.update(event("landed", detail={"loaded": 18, "quarantined": 0, "review": 2, "skipped": 0,
                                            "batches": [1, 2]}))
    assert progress.items_done == 30
    progress.update(event("landed", detail={"loaded": 24, "quarantined": 0, "review": 6, "skipped": 0,
                                            "batches": [3]}))
    assert progress.items_done == 30  # not 50: batches 1 and 2 are in the totals already


class Terminal:
    """A captured 100-column terminal our console draws on; ``frames`` holds its screen after every step."""

    def __init__(self) -> None:
        self.file = io.StringIO()
        console.configure(err=Console(file=self.file, force_terminal=True, width=100, highlight=False,
                                      emoji=False))
        self.frames: list[list[str]] = []

    def snap(self) -> list[str]:
        self.frames.append(screen(self.file.getvalue(), 100))
        return self.frames[-1]


def test_the_live_panel_owns_the_terminal() -> None:
    """Warnings, --verbose steps and CrewAI's own prints land above the panel: one panel on screen at every step,
    never a stale copy or literal markup, and each step is one line."""
    term = Terminal()
    with console.foreign_output():
        display = LiveDisplay(verbose=True)
        display(event("run_started", detail={"crew": "support_inbox"}))
        display(event("batch_started", batch=1, detail={"items": 10}))
        display(event("batch_running", batch=1))
        panels = [sum(line.startswith("crew ") for line in term.snap())]
        console.warn("model openai/x: attempt 1/4 failed (RateLimitError: 429 Too Many Requests), retrying in "
                     "2.0 s; the server asked to wait (Retry-After) so this line is long enough to wrap")
        panels.append(sum(line.startswith("crew ") for line in term.snap()))
        display(event("agent_started", batch=1, phase="transform", agent="Transformer"))
        display(event("tool_started", batch=1, agent="Transformer", tool="read_file",
                      arguments="{'path': '" + "x" * 150 + "'}"))
        panels.append(sum(line.startswith("crew ") for line in term.snap()))
        Console(width=None).print(Panel("Agent: Transformer", title="Agent Started"))  # as CrewAI prints
        print("\x1b[93m[Finalize] todos_count=0\x1b[0m")  # CrewAI's Printer: raw colour codes on stdout
        final = term.snap()
        panels.append(sum(line.startswith("crew ") for line in final))
        display.close()
    assert panels == [1, 1, 1, 1], "exactly one panel on screen at every step"
    output = term.file.getvalue()
    assert "[bold]" not in output and "[/]" not in output, "no literal markup in any frame"
    assert sum("warning: model openai/x" in line for line in final) == 1
    assert next(line for line in final if "Transformer uses read_file" in line).endswith("…"), "cut, not wrapped"
    assert any("Agent: Transformer" in line for line in final) and "[Finalize] todos_count=0" in final
    at = final.index("[Finalize] todos_count=0")
    assert final[at + 1].startswith("crew ") and "transform (Transformer)" in final[at + 1], "panel below all"
    assert all(len(line) <= 100 for frame in term.frames for line in frame)
    assert not any(line.startswith("crew ") for line in screen(output, 100)), "the panel leaves when the run ends"


def child_env(project: Path, state: Path, output: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ETLCREW_FAILPOINT"}
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


def test_json_with_a_verbose_agent_prints_only_our_json(project_dir: Path, tmp_path: Path) -> None:
    """An agent with ``verbose: true`` makes CrewAI print panels and colour codes; under --json, piped, stdout holds
    our JSON alone and stderr holds nothing."""
    edit_config(project_dir / "config" / "agents.yaml", "    the schema's neutral value.\n  max_iter: 3\n",
                "    the schema's neutral value.\n  max_iter: 3\n  verbose: true\n")
    done = subprocess.run([sys.executable, str(HARNESS), "run", "--model", "scripted/crash", "--json"],
                          env=child_env(project_dir, tmp_path / "s", tmp_path / "o"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert done.stderr == ""
