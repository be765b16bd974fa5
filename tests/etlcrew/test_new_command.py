"""``new tool`` and ``new crew``: what they write passes ``validate``, its own test, and a scripted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from yaml_edit import edit_config

ROOT = Path(__file__).resolve().parents[2]


def test_new_does_not_import_crewai(project_dir: Path) -> None:
    code = ("import sys; from etlcrew.cli import main; rc = main(['new', 'tool', 'lookup_customer']); "
            "print('CREWAI_IMPORTED' if 'crewai' in sys.modules else 'CREWAI_ABSENT', rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "CREWAI_ABSENT 0" in result.stdout, result.stdout + result.stderr


def test_new_tool_is_listed_validates_and_its_generated_test_passes(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("new", "tool", "lookup_customer")
    assert code == 0, err
    tool, test = project_dir / "tools/lookup_customer.py", project_dir / "tests/tools/test_lookup_customer.py"
    assert "wrote tools/lookup_customer.py" in out and "wrote tests/tools/test_lookup_customer.py" in out
    assert 'name: str = "lookup_customer"' in tool.read_text(encoding="utf-8")
    assert "class LookupCustomerTool(BaseTool)" in tool.read_text(encoding="utf-8")

    code, out, _ = cli("list", "tools", "--json")
    listed = {t["name"]: t for t in json.loads(out)}
    assert listed["lookup_customer"]["origin"] == "project: tools/lookup_customer.py"
    assert listed["lookup_customer"]["arguments"] == ["path"]
    assert cli("validate")[0] == 0

    result = subprocess.run([sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider"],
                            capture_output=True, text=True, cwd=project_dir, timeout=180, env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

    code, _, err = cli("tool", "lookup_customer", "--args", '{"path": "data/inbox/0012-thank-you.eml"}')
    assert code == 0, err


def test_new_tool_refuses_to_overwrite(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("new", "tool", "lookup_customer")[0] == 0
    code, _, err = cli("new", "tool", "lookup_customer")
    assert code == 2 and "a tool named 'lookup_customer' already exists (project: tools/lookup_customer.py)" in err
    (project_dir / "tests/tools/test_other_tool.py").write_text("# mine\n", encoding="utf-8")
    code, _, err = cli("new", "tool", "other_tool")
    assert code == 2 and "test_other_tool.py already exists; not overwriting it" in " ".join(err.split())
    assert (project_dir / "tests/tools/test_other_tool.py").read_text(encoding="utf-8") == "# mine\n"
    assert not (project_dir / "tools/other_tool.py").exists()


@pytest.mark.parametrize(("name", "message"), [
    ("1tool", "'1tool' is not a valid tool name"),
    ("my-tool", "'my-tool' is not a valid tool name"),
    ("class", "'class' is not a valid tool name"),
    ("read_file", "a tool named 'read_file' already exists (built-in: tools/read_file.py)"),
])
def test_new_tool_bad_names_exit_2(project_dir: Path, cli, name: str,  # type: ignore[no-untyped-def]
                                   message: str) -> None:
    code, _, err = cli("new", "tool", name)
    assert code == 2 and message in err and "Traceback" not in err
    assert sorted(p.name for p in (project_dir / "tools").iterdir()) == []


def test_new_crew_validates_and_runs_end_to_end(project_dir: Path, scripted, cli,  # type: ignore[no-untyped-def]
                                                tmp_path: Path) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    config = project_dir / "config"
    before = {n: (config / n).read_text(encoding="utf-8") for n in ("agents.yaml", "tasks.yaml", "crews.yaml")}
    code, out, err = cli("new", "crew", "team_notes")
    assert code == 0, err
    assert "added crew 'team_notes'" in out and "valid. next: python main.py run team_notes" in out
    for name, text in before.items():  # appended as text: the user's comments and layout are intact
        assert (config / name).read_text(encoding="utf-8").startswith(text)
    assert sorted(p.name for p in (project_dir / "data/team_notes").iterdir()) == ["note-1.txt", "note-2.md"]

    code, out, _ = cli("validate", "team_notes", "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    code, out, _ = cli("list", "crews", "--json")
    crew = next(c for c in json.loads(out) if c["name"] == "team_notes")
    assert crew["agents"] == ["team_notes_researcher", "team_notes_transformer", "team_notes_publisher"]
    assert crew["targets"] == ["duckdb", "report"]

    scripted("new_crew", default=sample_answer)
    code, out, err = cli("run", "team_notes", "--model", "scripted/new_crew", "--json")
    assert code == 0, err
    items = json.loads(out)["items"]
    assert (items["extracted"], items["loaded"], items["quarantined"]) == (2, 2, 0)
    with duckdb.connect(str(tmp_path / "output/team_notes.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM etlcrew.team_notes").fetchone() == (2,)
    assert (tmp_path / "output/team_notes-report.md").is_file()


def test_new_crew_refuses_existing_names_and_leaves_files_alone(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    config = project_dir / "config"
    before = {p.name: p.read_text(encoding="utf-8") for p in config.glob("*.yaml")}
    for name, message in [("support_inbox", "crew 'support_inbox' already exist"),
                          ("bad-name", "'bad-name' is not a valid crew name")]:
        code, _, err = cli("new", "crew", name)
        assert code == 2 and message in err
    assert {p.name: p.read_text(encoding="utf-8") for p in config.glob("*.yaml")} == before
    assert not (project_dir / "data/bad-name").exists()


def test_new_crew_on_a_broken_config_reports_it_and_adds_nothing(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    agents = project_dir / "config/agents.yaml"
    edit_config(agents, "  role: Researcher", "  rol: Researcher")
    broken = agents.read_text(encoding="utf-8")
    code, _, err = cli("new", "crew", "fresh")
    assert code == 2 and "did you mean 'role'?" in err
    assert agents.read_text(encoding="utf-8") == broken
    assert not (project_dir / "data/fresh").exists()
