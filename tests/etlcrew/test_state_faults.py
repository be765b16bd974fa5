"""The state folder (ETLCREW_HOME) when it cannot be used: a file that is not a ledger, a read-only folder (a real
read-only tmpfs), a full disk (a real tiny tmpfs). Each is one line naming the path and the fix, never a traceback
or ``unexpected ...``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "pipeline" / "crash_harness.py"


def said(err: str) -> str:
    return " ".join(err.split())  # the console wraps long lines


def test_a_file_that_is_not_a_ledger_is_named_with_the_fix_by_run_runs_resume_show_and_validate(
        project_dir: Path, cli, isolated_state: Path) -> None:  # type: ignore[no-untyped-def]
    isolated_state.mkdir(parents=True)
    ledger = isolated_state / "ledger.db"
    ledger.write_bytes(b"not a database at all\n" * 200)
    for args in (("run", "--model", "scripted/sample"), ("runs",), ("resume", "01ABC"), ("show", "01ABC"),
                 ("validate",), ("eval", "--model", "scripted/sample")):
        code, _out, err = cli(*args)
        text = said(err)
        assert code == 2, (args, err)
        assert str(ledger) in text and "is not an etlcrew ledger" in text and f"mv {ledger}" in text, (args, err)
        assert "unexpected" not in text and "Traceback" not in text
        assert err.count("error:") == 1, (args, err)
    assert ledger.read_bytes().startswith(b"not a database"), "left as it was"


def can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def make_project(base: Path) -> Path:
    project = base / "project"
    shutil.copytree(ROOT / "config", project / "config")
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("*.sqlite"))
    (project / "tools").mkdir()
    return project


def in_namespace(base: Path, project: Path, mount: str, args: list[str], script: Path = ROOT / "main.py",
                 then: str = "") -> subprocess.CompletedProcess[str]:
    """``args`` to the CLI in a child with ``base/state`` mounted as ``mount`` (tmpfs options), in its own mount
    namespace (gone when the child exits); ``then``, a shell command, runs after it in the same namespace."""
    state = base / "state"
    state.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL", "OPENAI_API_KEY", "ETLCREW_FAILPOINT")}
    env |= {"ETLCREW_HOME": str(state), "ETLCREW_OUTPUT_DIR": str(base / "output"),
            "ETLCREW_PROJECT_DIR": str(project), "PYTHONPATH": str(ROOT)}
    shell = f"mount -t tmpfs -o {mount} tmpfs {state} && " + (f"\"$@\"; {then}" if then else "exec \"$@\"")
    return subprocess.run(["unshare", "-m", "sh", "-c", shell, "sh", sys.executable, str(script), *args],
                          env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs root to mount a tmpfs in its own mount namespace")
def test_a_read_only_state_folder_is_exit_2_naming_etlcrew_home_for_validate_run_and_eval(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    for args in (["validate"], ["run", "--model", "scripted/sample"], ["eval", "--model", "scripted/sample"]):
        done = in_namespace(tmp_path, project, "ro,size=64k", args)
        text = said(done.stderr)
        assert done.returncode == 2, (args, done.stderr[-2000:])
        assert "ETLCREW_HOME" in text and "read-only file system" in text and "writable folder" in text, text
        assert str(tmp_path / "state") in text and "unexpected" not in text and "Traceback" not in text


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs root to mount a tiny tmpfs in its own mount namespace")
def test_a_full_state_disk_is_one_error_with_the_path_and_the_resume_command_and_the_run_shows_interrupted(
        tmp_path: Path) -> None:
    """The state folder is a 400 KiB tmpfs that fills up during the run (ledger, CrewAI's storage); ``runs`` runs
    in the same mount namespace, before the tmpfs goes away with it."""
    project = make_project(tmp_path)
    runs = f"{sys.executable} {ROOT / 'main.py'} runs --json"
    done = in_namespace(tmp_path, project, "size=400k", ["run", "--model", "scripted/crash"], HARNESS,
                        then=f"echo \"exit=$?\" >&2; {runs}")
    text = said(done.stderr)
    assert "exit=1" in text, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left on device" in text, done.stderr[-3000:]
    assert f"{tmp_path / 'state'}/" in errors[0] and "no space left on device" in errors[0], errors
    assert "unexpected" not in text and "Traceback" not in text, text
    (run,) = json.loads(done.stdout)
    assert f"python main.py resume {run['run_id']}" in text
    assert run["status"] in ("failed", "interrupted") and run["resumable"] is True, run
