"""CrewAI's own YAML keys are accepted as they are, and the keys we pass through really exist in CrewAI."""

from __future__ import annotations

from pathlib import Path

from etlcrew.specs.loader import load_project
from etlcrew.specs.models import CREWAI_AGENT_PASSTHROUGH, CREWAI_TASK_PASSTHROUGH, AgentSpec, TaskSpec

# The shape `crewai create crew` generates, with more of CrewAI's documented agent keys.
CREWAI_AGENTS = """
researcher:
  role: >
    {topic} Senior Data Researcher
  goal: >
    Uncover cutting-edge developments in {topic}
  backstory: >
    You're a seasoned researcher with a knack for uncovering the latest developments in {topic}.
  verbose: true
  allow_delegation: false
  max_iter: 10
  max_rpm: 30
  max_execution_time: 300
  respect_context_window: true
  cache: true
  inject_date: true
  date_format: "%Y-%m-%d"
  reasoning: false
reporting_analyst:
  role: Reporting Analyst
  goal: Create detailed reports
  backstory: You're a meticulous analyst.
"""
CREWAI_TASKS = """
research_task:
  description: >
    Conduct a thorough research about {topic}
  expected_output: >
    A list with 10 bullet points of the most relevant information about {topic}
  agent: researcher
reporting_task:
  description: Review the context you got and expand each topic into a full section for a report.
  expected_output: A fully fledged report, formatted as markdown without '```'
  agent: reporting_analyst
  context: [research_task]
  output_file: report.md
  markdown: true
"""
CREWS = """
research:
  agents: [researcher, reporting_analyst]
  tasks: [research_task, reporting_task]
  inputs: {topic: AI LLMs}
"""


def test_a_crewai_project_config_loads_unchanged(tmp_path: Path) -> None:
    (tmp_path / "agents.yaml").write_text(CREWAI_AGENTS)
    (tmp_path / "tasks.yaml").write_text(CREWAI_TASKS)
    (tmp_path / "crews.yaml").write_text(CREWS)
    project = load_project(tmp_path, tool_names=set())
    researcher = project.agents["researcher"]
    assert researcher.max_iter == 10 and researcher.verbose is True
    assert researcher.crewai_options["inject_date"] is True
    assert project.tasks["reporting_task"].context == ["research_task"]


def test_passthrough_keys_are_real_crewai_fields() -> None:
    from crewai import Agent, Task

    ours_agent = (set(AgentSpec.model_fields) - {"crewai_options", "fallback_models"}) | CREWAI_AGENT_PASSTHROUGH
    ours_task = (set(TaskSpec.model_fields) - {"crewai_options", "phase"}) | CREWAI_TASK_PASSTHROUGH
    assert ours_agent <= set(Agent.model_fields), ours_agent - set(Agent.model_fields)
    assert ours_task <= set(Task.model_fields), ours_task - set(Task.model_fields)
