"""A run leaves nothing outside the project: CrewAI's own files stay under the state directory or are not made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_writes_nothing_into_home_or_the_xdg_folders(project_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_RUNTIME_DIR": str(home / "run"), "ETLCREW_HOME": str(state)}
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--model", "scripted/sample", "--json"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == [], "CrewAI wrote into the user's home"
    assert (state / "crewai").is_dir(), "CrewAI's storage is under the state directory"
    assert not list(state.rglob("secret.key")), "no login happens, so no token key is kept anywhere"
    # CrewAI's replay store is never opened: processes creating it while another removed it failed Ray batches
    assert not list(state.rglob("latest_kickoff_task_outputs*")), "CrewAI opened its replay store"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "output", "project", "state"], "nothing in cwd"
