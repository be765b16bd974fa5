"""Kill -9 between the outbox's enqueue and its sending (and between a send and its mark), then resume or run
again: every action item reaches the webhook and the notify file once, and a re-run with no change sends nothing.

The default crew runs in a child process (``crash_harness.py``, scripted publisher naming every other item of the run
as needing action) with a notify file target and a webhook target (``items: actions``) on a loopback receiver.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from yaml_edit import edit_config

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("crash_harness.py")
RUN = ["run", "--model", "scripted/crash", "--batch-size", "5", "--json"]
SHIPPED_HOOK = ("    - type: webhook\n      url: http://127.0.0.1:8765/hooks/urgent\n"
                "      when: \"urgency == 'urgent'\"\n      enabled: false\n")
CASES = {  # name -> (failpoint of the first run, how the work is finished)
    "clean": (None, None),
    "killed after the enqueue, resumed": ("outbox-enqueued", "resume"),
    "killed after the enqueue, run again": ("outbox-enqueued", "run"),
    "killed after a line was written, before its mark": ("delivery-sent:2", "resume"),
    "killed after a POST, before its mark": ("delivery-sent:21", "resume"),
}


class Receiver:
    """A loopback webhook that keeps (Idempotency-Key, item_id) of every POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                owner.posts.append((self.headers["Idempotency-Key"], body["item_id"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def make_project(base: Path, hook_url: str) -> Path:
    project = base / "project"
    shutil.copytree(ROOT / "config", project / "config")
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("*.sqlite"))
    (project / "tools").mkdir()
    edit_config(project / "config" / "crews.yaml", SHIPPED_HOOK,
                f"    - type: notify\n      path: output/actions.log\n"
                f"    - type: webhook\n      url: {hook_url}\n      items: actions\n")
    # the publisher names the action items (CRASH_ACTIONS), not the shipped rule on the scripted urgencies
    edit_config(project / "config" / "crews.yaml", "  actions: {when: \"urgency in ['urgent', 'high']\"}",
                "  actions: {from: publisher}")
    return project


def start(base: Path, args: list[str], failpoint: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ETLCREW_FAILPOINT", "MODEL")}
    env |= {"ETLCREW_PROJECT_DIR": str(base / "project"), "ETLCREW_HOME": str(base / "state"),
            "ETLCREW_OUTPUT_DIR": str(base / "output"), "CRASH_ACTIONS": "1"}
    if failpoint:
        env["ETLCREW_FAILPOINT"] = failpoint
    return subprocess.Popen([sys.executable, str(HARNESS), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_all(processes: dict[str, subprocess.Popen[str]]) -> dict[str, tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each process, once it ended."""
    done = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=600)
        done[name] = (process.returncode, out, err)
    return done


def log_items(base: Path) -> list[str]:
    path = base / "project" / "output" / "actions.log"
    return [json.loads(line)["item_id"] for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict]]:  # type: ignore[type-arg]
    """Each case: the first run, then (for a killed one) resume or run, then one more run with no change."""
    receivers = {name: Receiver() for name in CASES}
    bases = {name: tmp_path_factory.mktemp("outbox") for name in CASES}
    for name, base in bases.items():
        make_project(base, receivers[name].url)
    first = finish_all({name: start(bases[name], RUN, fp) for name, (fp, _) in CASES.items()})
    found: dict[str, dict] = {name: {"first": first[name], "base": bases[name]} for name in CASES}  # type: ignore[type-arg]
    for name in CASES:
        with sqlite3.connect(bases[name] / "state" / "ledger.db") as db:
            found[name]["run_id"] = db.execute("SELECT run_id FROM runs").fetchone()[0]
            found[name]["at_kill"] = dict(db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status"))
        found[name]["posts_at_kill"] = len(receivers[name].posts)
    second = finish_all({name: start(bases[name], ["resume", found[name]["run_id"], "--json"] if then == "resume"
                                     else RUN) for name, (_, then) in CASES.items() if then})
    for name, result in second.items():
        found[name]["second"] = result
    for name in CASES:
        found[name] |= {"posts": list(receivers[name].posts), "lines": log_items(bases[name])}
    again = finish_all({name: start(bases[name], RUN) for name in CASES})
    for name in CASES:
        found[name] |= {"again": again[name], "posts_again": list(receivers[name].posts),
                        "lines_again": log_items(bases[name])}
    yield found
    for receiver in receivers.values():
        receiver.server.shutdown()


def test_the_clean_run_delivers_each_action_item_once(outcomes: dict[str, dict]) -> None:  # type: ignore[type-arg]
    clean = outcomes["clean"]
    assert clean["first"][0] == 0, clean["first"][2][-2000:]
    items = [item for _, item in clean["posts"]]
    assert len(items) == 15 and len(set(items)) == 15, "every other item of the run's 30"
    assert sorted(clean["lines"]) == sorted(items)


@pytest.mark.parametrize("case", [name for name, (fp, _) in CASES.items() if fp])
def test_killed_then_finished_delivers_each_action_item_once(outcomes: dict[str, dict], case: str) -> None:  # type: ignore[type-arg]
    result, clean = outcomes[case], outcomes["clean"]
    assert result["first"][0] == -9, f"the first run was not killed: {result['first'][2][-2000:]}"
    assert result["second"][0] == 0, result["second"][2][-3000:]
    expected = sorted(item for _, item in clean["posts"])
    assert sorted(result["lines"]) == expected, "the notify file holds each action item exactly once"
    assert sorted(Counter(item for _, item in result["posts"])) == expected, "no action item lost"
    keys = Counter(key for key, _ in result["posts"])
    if case.startswith("killed after a POST"):  # the POST before the kill is repeated, with the same key
        assert sorted(keys.values()) == [1] * 14 + [2]
    else:
        assert set(keys.values()) == {1}, "no webhook delivered twice"


def test_the_kill_after_the_enqueue_left_every_delivery_pending(outcomes: dict[str, dict]) -> None:  # type: ignore[type-arg]
    result = outcomes["killed after the enqueue, resumed"]
    assert result["at_kill"] == {"pending": 30} and result["posts_at_kill"] == 0


def test_a_rerun_with_no_change_delivers_nothing(outcomes: dict[str, dict]) -> None:  # type: ignore[type-arg]
    for case, result in outcomes.items():
        code, out, err = result["again"]
        assert code == 0, (case, err[-2000:])
        assert json.loads(out)["items"]["skipped"] == 30
        assert result["posts_again"] == result["posts"] and result["lines_again"] == result["lines"], case


def test_show_lists_the_deliveries(outcomes: dict[str, dict]) -> None:  # type: ignore[type-arg]
    result = outcomes["killed after the enqueue, resumed"]
    env = {k: v for k, v in os.environ.items() if k != "ETLCREW_FAILPOINT"}
    env |= {"ETLCREW_PROJECT_DIR": str(result["base"] / "project"), "ETLCREW_HOME": str(result["base"] / "state"),
            "ETLCREW_OUTPUT_DIR": str(result["base"] / "output")}
    shown = subprocess.run([sys.executable, str(ROOT / "main.py"), "show", result["run_id"], "--json"], env=env,
                           capture_output=True, text=True, timeout=120, check=True)
    deliveries = json.loads(shown.stdout)["deliveries"]
    assert len(deliveries) == 30 and {d["status"] for d in deliveries} == {"delivered"}
    assert {d["target"] for d in deliveries} == {"notify:output/actions.log", f"webhook:{_hook(result)}"}
    assert all(d["attempts"] == 1 and d["last_error"] is None for d in deliveries)
    text = subprocess.run([sys.executable, str(ROOT / "main.py"), "show", result["run_id"]], env=env,
                          capture_output=True, text=True, timeout=120, check=True).stdout
    assert "deliveries (30 delivered)" in text


def _hook(result: dict) -> str:  # type: ignore[type-arg]
    crews = (result["base"] / "project" / "config" / "crews.yaml").read_text()
    return next(line.split("url: ", 1)[1] for line in crews.splitlines() if "url: http://127.0.0.1:" in line
                and "8765" not in line)
