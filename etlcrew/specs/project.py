"""The validated project (``ProjectSpec``) and the did-you-mean helper every config message uses.

Kept apart from ``loader`` so that the cross-file checks (``references``), the settings and the commands can
name a project without importing the code that loads one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from etlcrew.specs.models import AgentSpec, CrewSpec, TaskSpec
from etlcrew.specs.yaml_source import YamlDocument

CONFIG_FILES: dict[str, tuple[str, type[BaseModel]]] = {
    "agents": ("agents.yaml", AgentSpec),
    "tasks": ("tasks.yaml", TaskSpec),
    "crews": ("crews.yaml", CrewSpec),
}
ENTRY_WORD = {"agents": "agent", "tasks": "task", "crews": "crew"}
PHASES = ("extract", "transform", "load")


@dataclass
class ProjectSpec:
    """Every agent, task and crew of a project, validated, with the documents they came from."""

    config_dir: Path
    agents: dict[str, AgentSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    crews: dict[str, CrewSpec] = field(default_factory=dict)
    documents: dict[str, YamlDocument] = field(default_factory=dict)

    def default_crew(self) -> str:
        """The crew marked ``default: true``, else the first one declared."""
        for name, crew in self.crews.items():
            if crew.default:
                return name
        return next(iter(self.crews))

    def phase_of(self, task: str) -> str | None:
        """The ETL phase a task performs: its ``phase:``, else its own name when that is a phase."""
        spec = self.tasks.get(task)
        if spec is None:
            return None
        return spec.phase or (task if task in PHASES else None)

    def file_of(self, kind: str) -> str:
        return f"{self.config_dir.name}/{CONFIG_FILES[kind][0]}"


