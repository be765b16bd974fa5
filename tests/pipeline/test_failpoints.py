"""``ETLCREW_FAILPOINT``, the one crash-injection mechanism: a real child process dies (SIGKILL) exactly at the
n-th pass of a named point, and with ``@marker`` only the first process to get there dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from etlcrew.pipeline import failpoints
from etlcrew.pipeline.failpoints import Failpoint

# passes the point "step" five times, printing after each pass that did not kill it
CHILD = ("from etlcrew.pipeline import failpoints\n"
         "for n in range(1, 6):\n"
         "    failpoints.hit('step')\n"
         "    print(n, flush=True)\n")


def child(spec: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != failpoints.ENV} | {failpoints.ENV: spec}
    return subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("spec", "parsed"), [
    ("finish", Failpoint("finish", 1, None)),
    ("webhook:3", Failpoint("webhook", 3, None)),
    ("phase:transform", Failpoint("phase:transform", 1, None)),
    ("phase:extract:3", Failpoint("phase:extract", 3, None)),
    ("ray-worker-phase@/tmp/a@b/once", Failpoint("ray-worker-phase", 1, "/tmp/a@b/once")),
    ("phase:load:2@/tmp/once", Failpoint("phase:load", 2, "/tmp/once")),
])
def test_a_setting_names_a_point_a_count_and_maybe_a_marker(spec: str, parsed: Failpoint) -> None:
    assert failpoints.parse(spec) == parsed


def test_the_process_dies_at_the_nth_pass_and_not_before() -> None:
    done = child("step:3")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.split() == ["1", "2"]


def test_other_points_and_no_setting_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    assert child("other:1").returncode == 0
    monkeypatch.delenv(failpoints.ENV, raising=False)
    failpoints.hit("step")  # unset: nothing happens (this test process is alive to say so)
    failpoints.hit("step", "other")  # a setting passed in (as a Ray worker gets it) names another point


def test_a_marker_makes_the_crash_happen_once_across_processes(tmp_path: Path) -> None:
    marker = tmp_path / "once"
    first = child(f"step:2@{marker}")
    assert first.returncode == -signal.SIGKILL and first.stdout.split() == ["1"]
    assert marker.exists(), "the process that died left the marker"
    again = child(f"step:2@{marker}")
    assert again.returncode == 0 and again.stdout.split() == ["1", "2", "3", "4", "5"], "a later process passes"
