"""Both processes end to end on a crew without sources, with the scripted model standing in for the LLM only."""

from __future__ import annotations

from pathlib import Path

import pytest

PLAIN_CREWS = """
plain:
  agents: [researcher, transformer, publisher]
  tasks: [extract, transform, load]
  inputs: {purpose: testing, audience: testers, items: "(no items)"}

plain_managed:
  agents: [researcher, transformer, publisher]
  tasks: [extract, transform, load]
  process: hierarchical
  manager_llm: scripted/manager
  max_manager_iterations: 3
  inputs: {purpose: testing, audience: testers}
"""


@pytest.fixture
def plain_project(project_dir: Path) -> Path:
    (project_dir / "config/crews.yaml").write_text(PLAIN_CREWS)
    return project_dir


def test_sequential_crew_runs_tasks_in_order(plain_project: Path, scripted, cli) -> None:  # type: ignore[no-untyped-def]
    llm = scripted("worker", responses=[
        "Thought: read\nFinal Answer: finding A",
        "Thought: shape\nFinal Answer: record A",
        "Thought: publish\nFinal Answer: digest A",
    ])
    result = cli("run", "plain", "--model", "scripted/worker", "--json")
    assert result.code == 0, result.err
    summary = result.json
    assert summary["status"] == "succeeded" and summary["crew"] == "plain"
    assert summary["llm"]["calls"] == 3
    assert summary["llm"]["prompt_tokens"] > 0 and summary["llm"]["completion_tokens"] > 0
    assert [c.agent for c in llm.history] == ["Researcher", "Transformer", "Publisher"]
    assert "(no items)" in llm.history[0].prompt  # inputs filled by etlcrew, not CrewAI
    assert "finding A" in llm.history[1].prompt  # the transform saw the extract's output as context
    result_file = Path(summary["outputs"][0])
    assert result_file.read_text().strip() == "digest A"


def test_hierarchical_crew_delegates_with_capped_manager(plain_project: Path, scripted, cli,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def manager(call):  # type: ignore[no-untyped-def]
        last = call.messages[-1]["content"]
        if "tool result" in last or "Observation" in last:
            return "Thought: done\nFinal Answer: managed result"
        return ('Thought: delegate\nAction: Delegate work to coworker\n'
                'Action Input: {"task": "do the phase", "context": "all of it", "coworker": "Researcher"}')

    manager_llm = scripted("manager", default=manager, function_calling=False)  # delegation via ReAct text
    worker = scripted("worker", default="Thought: ok\nFinal Answer: worker output")
    monkeypatch.setenv("MODEL", "scripted/worker")  # agents: MODEL; the manager: manager_llm from the YAML
    result = cli("run", "plain_managed", "--json")
    assert result.code == 0, result.err
    summary = result.json
    assert summary["status"] == "succeeded" and summary["process"] == "hierarchical"
    assert summary["models"] == ["scripted/manager", "scripted/worker"]
    manager_calls = [c for c in manager_llm.history if c.agent == "Crew Manager"]
    assert any("Delegate work to coworker" in (c.answer or "") for c in manager_calls)
    assert any(c.agent == "Researcher" for c in worker.history), "work was delegated to a coworker"
    per_task: dict[str | None, int] = {}
    for call in manager_calls:
        per_task[call.task] = per_task.get(call.task, 0) + 1
    assert set(per_task) == {"extract", "transform", "load"}
    assert max(per_task.values()) <= 3, "manager iterations are capped by max_manager_iterations"


def test_process_flag_overrides_yaml(plain_project: Path, scripted, cli) -> None:  # type: ignore[no-untyped-def]
    llm = scripted("worker", default="Thought: ok\nFinal Answer: fine")
    result = cli("run", "plain", "--model", "scripted/worker", "--process", "hierarchical", "--json")
    assert result.code == 0, result.err
    assert result.json["process"] == "hierarchical"
    # without a manager in the YAML, etlcrew's own capped manager runs on the run's model
    assert any(c.agent == "Crew Manager" for c in llm.history)


def test_output_file_lands_in_the_project_directory_whatever_the_cwd(  # type: ignore[no-untyped-def]
        plain_project: Path, scripted, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task's ``output_file`` is relative to the project, as the README says, not to where the command runs
    (CrewAI strips the leading ``/`` of an absolute path, which put it under ``<cwd>/<project path>/``)."""
    from yaml_edit import edit_config

    edit_config(plain_project / "config/tasks.yaml", "  agent: publisher\n  context: [transform]\n",
                "  agent: publisher\n  context: [transform]\n  output_file: reports/{audience}.md\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    scripted("worker", responses=["Thought: a\nFinal Answer: finding", "Thought: b\nFinal Answer: record",
                                  "Thought: c\nFinal Answer: the digest"])
    result = cli("run", "plain", "--model", "scripted/worker", "--json")
    assert result.code == 0, result.err
    written = plain_project / "reports" / "testers.md"
    assert written.read_text(encoding="utf-8").strip() == "the digest"
    assert str(written) in result.json["outputs"]
    assert not any(elsewhere.rglob("*")), "nothing is written under the current directory"
