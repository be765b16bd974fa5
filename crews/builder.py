"""Assemble a CrewAI ``Crew`` from the validated project: agents, tasks in order, process and manager.

Models and tools come in through callables so the same assembly serves the embedded model, a hosted provider
and the scripted test model. CrewAI must already be imported through ``etlcrew.crewai_env``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crewai import Crew, Process, Task
from crewai.tasks.task_output import TaskOutput
from etlcrew.agents.builder import build_agent, build_manager
from etlcrew.tasks.builder import build_task
from pydantic import BaseModel

from etlcrew.crewai_env import without_replay_log
from etlcrew.specs.project import ProjectSpec

LlmFor = Callable[[str | None], Any]  # agent name (None: the manager) -> LLM
ToolsFor = Callable[[list[str]], list[Any]]


def build_crew(project: ProjectSpec, crew_name: str, *, inputs: Mapping[str, object], llm_for: LlmFor,
               tools_for: ToolsFor, project_dir: Path, process: str | None = None,
               output_models: Mapping[str, type[BaseModel]] | None = None,
               agent_tools: Callable[[str], bool] | None = None, prior_outputs: Mapping[str, str] | None = None,
               task_callback: Callable[[Any], None] | None = None, only_tasks: set[str] | None = None) -> Crew:
    """The crew ``crew_name``; ``process`` overrides the YAML, ``output_models`` maps task -> pydantic output.

    ``agent_tools(agent)`` says whether an agent's model gets its tools: small local models do not call tools
    reliably, so the data path keeps tool use in code for them. ``prior_outputs`` (task -> raw output) are tasks
    already done, e.g. before a crash: they are left out of the crew, and tasks whose ``context`` names them read
    the stored output instead. ``task_callback`` runs after each task, in the kickoff's thread. ``only_tasks``
    runs just those tasks (the data path kicks off one phase at a time when it calls the model per item).
    """
    spec = project.crews[crew_name]
    agent_tools = agent_tools or (lambda _name: True)
    chosen = process or spec.process
    output_models = output_models or {}
    agents = {
        name: build_agent(project.agents[name], llm=llm_for(name),
                          tools=tools_for(project.agents[name].tools) if agent_tools(name) else [], inputs=inputs)
        for name in spec.agents
    }
    tasks: dict[str, Task] = {}
    for task_name in spec.tasks:
        task_spec = project.tasks[task_name]
        tasks[task_name] = build_task(
            task_name, task_spec,
            agent=agents.get(task_spec.agent) if task_spec.agent else None,
            context=[tasks[c] for c in task_spec.context if c in tasks],
            tools=tools_for(task_spec.tools) if agent_tools(task_spec.agent or "") else [],
            inputs=inputs, project_dir=project_dir,
            output_pydantic=output_models.get(task_name),
        )
        if prior_outputs and task_name in prior_outputs:
            tasks[task_name].output = TaskOutput(description=tasks[task_name].description, name=task_name,
                                                 raw=prior_outputs[task_name], agent=task_spec.agent or "")
    options: dict[str, Any] = {}
    if chosen == "hierarchical":
        if spec.manager:
            manager = build_agent(project.agents[spec.manager], llm=llm_for(spec.manager), tools=[],
                                  inputs=inputs, max_iter=spec.max_manager_iterations, allow_delegation=True)
        else:
            manager = build_manager(llm=llm_for(None), max_iter=spec.max_manager_iterations,
                                    crew_description=spec.description)
        options["manager_agent"] = manager
    return without_replay_log(Crew(
        name=crew_name,
        agents=list(agents.values()),
        tasks=[task for name, task in tasks.items()
               if name not in (prior_outputs or {}) and (only_tasks is None or name in only_tasks)],
        process=Process.hierarchical if chosen == "hierarchical" else Process.sequential,
        verbose=spec.verbose,
        memory=spec.memory,
        planning=spec.planning,
        max_rpm=spec.max_rpm,
        task_callback=task_callback,
        **options,
    ))
