"""The CLI through its real entry points: help, exit codes, JSON listings, and no CrewAI import where not needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python main.py ARGS`` in a child process: the real script, its own interpreter and environment."""
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120, cwd=ROOT)


def test_no_arguments_explains_itself() -> None:
    result = cli_process()
    assert result.returncode == 0
    for command in ("run", "validate", "list", "models"):
        assert command in result.stdout


def test_help_of_run_lists_its_flags() -> None:
    result = cli_process("run", "--help")
    assert result.returncode == 0
    for flag in ("--input", "--process", "--model", "--json", "--base-url"):
        assert flag in result.stdout


def test_bad_flag_is_a_usage_error() -> None:
    result = cli_process("run", "--process", "parallel")
    assert result.returncode == 2
    assert "parallel" in result.stderr and "Traceback" not in result.stderr


def test_bad_input_pair_is_a_usage_error() -> None:
    result = cli_process("run", "--input", "no-equals-sign")
    assert result.returncode == 2
    assert "--input expects KEY=VALUE" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["validate"], ["list"], ["list", "tools", "--json"], ["run", "--help"]])
def test_light_commands_do_not_import_crewai_or_ray(args: list[str]) -> None:
    code = (f"import sys; from etlcrew.cli import main; rc = main({args!r}); "
            "print('CREWAI_IMPORTED' if 'crewai' in sys.modules else 'CREWAI_ABSENT', rc); "
            "print('RAY_IMPORTED' if 'ray' in sys.modules else 'RAY_ABSENT')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "CREWAI_ABSENT 0" in result.stdout, result.stdout + result.stderr
    assert "RAY_ABSENT" in result.stdout, "Ray costs nothing unless --executor ray"


def test_ledger_commands_do_not_import_crewai(isolated_state: Path) -> None:
    from etlcrew.ledger import open_ledger

    ledger = open_ledger(isolated_state)
    ledger.start_run("01TESTRUN0000000000000000A", "support_inbox", {}, "cfg")
    ledger.record_call("01TESTRUN0000000000000000A", "m", 10, 2, 5.0, None, agent="Researcher", task="extract")
    ledger.close()
    for args in (["runs"], ["runs", "--json"], ["show", "01TESTRUN"], ["show", "01TESTRUN", "--json"],
                 ["review", "--list"], ["review", "--list", "--json"],
                 ["review", "--export", str(isolated_state / "held.csv")]):
        code = (f"import sys; from etlcrew.cli import main; rc = main({args!r}); "
                "print('CREWAI_IMPORTED' if 'crewai' in sys.modules else 'CREWAI_ABSENT', rc, file=sys.stderr)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert "CREWAI_ABSENT 0" in result.stderr, result.stdout + result.stderr


def test_list_json_shapes() -> None:
    everything = json.loads(cli_process("list", "--json").stdout)
    assert set(everything) == {"crews", "agents", "tasks", "tools"}
    crews = json.loads(cli_process("list", "crews", "--json").stdout)
    assert isinstance(crews, list)
    assert [c["name"] for c in crews if c["default"]] == ["support_inbox"]
    agents = {a["name"] for a in json.loads(cli_process("list", "agents", "--json").stdout)}
    assert {"researcher", "transformer", "publisher"} <= agents


def test_validate_json_on_shipped_config() -> None:
    result = cli_process("validate", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["valid"] is True and data["default_crew"] == "support_inbox"


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "etlcrew"
    if not exe.exists():
        pytest.fail("the etlcrew console script is missing: install with pip install -e .")
    result = subprocess.run([str(exe), "validate"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr


def test_wording_follows_how_the_command_was_started(tmp_path: Path) -> None:
    """``etlcrew ...`` in what the console script prints, ``python main.py ...`` in what main.py prints: help, hints."""
    exe = Path(sys.executable).parent / "etlcrew"
    env = {**os.environ, "ETLCREW_HOME": str(tmp_path / "state")}
    script = subprocess.run([str(exe), "runs"], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert script.returncode == 0 and "start one with: etlcrew run" in script.stderr, script.stderr
    assert "python main.py" not in script.stderr
    helped = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert "etlcrew run CREW --input k=v" in helped.stdout and "python main.py" not in helped.stdout
    checkout = cli_process("runs", env={"ETLCREW_HOME": str(tmp_path / "state")})
    assert "start one with: python main.py run" in checkout.stderr
    assert "python main.py run CREW --input k=v" in cli_process("--help").stdout


def test_install_hints_fit_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout (editable install) needs ``pip install -e``; the installed wheel is checked by .ci/wheel_smoke."""
    from etlcrew import invocation

    assert invocation.from_checkout()
    assert invocation.install_hint("ray") == 'pip install -e ".[ray]"'
    monkeypatch.setattr(invocation, "from_checkout", lambda: False)
    assert invocation.install_hint("ray") == 'pip install "etlcrew[ray]"'
    monkeypatch.setattr(sys, "argv", ["/venv/bin/etlcrew", "run"])
    assert invocation.command("resume", "01J") == "etlcrew resume 01J"


def test_crewai_run_leaves_pyproject_unchanged(tmp_path: Path) -> None:
    """CrewAI's CLI adds a ``project_id`` to ``[tool.crewai]`` on every ``crewai run`` unless one is there; ours
    is pinned, so the command (unsupported: it exits 0 when the crew fails, README "Run") rewrites nothing."""
    crewai = Path(sys.executable).parent / "crewai"
    if not crewai.exists():
        pytest.skip("CrewAI's CLI is not installed")
    before = (ROOT / "pyproject.toml").read_bytes()
    (tmp_path / "pyproject.toml").write_bytes(before)
    env = {**os.environ, "PATH": str(tmp_path)}  # no uv: it fails at once, as it does for users without uv
    subprocess.run([str(crewai), "run"], capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    assert (tmp_path / "pyproject.toml").read_bytes() == before


def test_run_crew_entry_point_exits_with_the_run_s_code(tmp_path: Path) -> None:
    """``run_crew`` (what ``uv run run_crew`` starts) returns etlcrew's exit codes, unlike ``crewai run``."""
    exe = Path(sys.executable).parent / "run_crew"
    result = subprocess.run([str(exe), "--process", "parallel"], capture_output=True, text=True, cwd=ROOT,
                            timeout=60, env={**os.environ, "ETLCREW_HOME": str(tmp_path / "state")})
    assert result.returncode == 2 and "parallel" in result.stderr
