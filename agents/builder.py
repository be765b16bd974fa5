"""Build a CrewAI ``Agent`` from a validated ``AgentSpec``: placeholders filled, model and tools attached.

CrewAI must already be imported through ``etlcrew.crewai_env``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crewai import Agent

from etlcrew.specs.models import AgentSpec
from etlcrew.specs.placeholders import fill


def build_agent(spec: AgentSpec, *, llm: Any, tools: list[Any], inputs: Mapping[str, object],
                max_iter: int | None = None, allow_delegation: bool | None = None) -> Agent:
    """One agent; ``max_iter``/``allow_delegation`` override the spec (used for managers)."""
    return Agent(
        role=fill(spec.role, inputs).strip(),
        goal=fill(spec.goal, inputs).strip(),
        backstory=fill(spec.backstory, inputs).strip(),
        llm=llm,
        tools=tools,
        allow_delegation=spec.allow_delegation if allow_delegation is None else allow_delegation,
        max_iter=spec.max_iter if max_iter is None else max_iter,
        max_rpm=spec.max_rpm,
        max_execution_time=spec.max_execution_time,
        max_retry_limit=spec.max_retry_limit,
        verbose=spec.verbose,
        **spec.crewai_options,
    )


def build_manager(*, llm: Any, max_iter: int, crew_description: str) -> Agent:
    """The manager of a hierarchical crew given only ``manager_llm``: ours, so its iterations are capped."""
    return Agent(
        role="Crew Manager",
        goal="Get the crew's tasks done by delegating each one to the right coworker, in order, once.",
        backstory=f"You coordinate an ETL crew. {crew_description}".strip(),
        llm=llm,
        allow_delegation=True,
        max_iter=max_iter,
        verbose=False,
    )
