"""Pick and build the model for each agent of a run, once per distinct model.

Precedence (``model_runtime.providers.resolve_model_name``): ``--model`` > the agent's ``llm:`` > the crew's
``model:`` > ``MODEL`` > the embedded default. ``scripted/<name>`` selects a ``ScriptedLLM`` registered in-process.
"""

from __future__ import annotations

from typing import Any

from etlcrew.errors import ModelSetupError
from etlcrew.settings import Settings
from etlcrew.specs.loader import ProjectSpec


class ModelChooser:
    """Maps agent names to LLM instances; instances are shared per model name (counting uses events)."""

    def __init__(self, project: ProjectSpec, crew: str, settings: Settings, flag_model: str | None,
                 base_url: str | None, parallel: int = 1) -> None:
        self.project, self.crew, self.settings = project, crew, settings
        self.flag_model, self.base_url, self.parallel = flag_model, base_url, parallel
        self._built: dict[str, Any] = {}

    def name_for(self, agent: str | None) -> str:
        from model_runtime.providers import resolve_model_name

        crew = self.project.crews[self.crew]
        agent_llm = self.project.agents[agent].llm if agent in self.project.agents else crew.manager_llm
        return resolve_model_name(self.flag_model, agent_llm, crew.model, self.settings.model,
                                  default=f"local/{self.settings.embedded_model}")

    def uses_tools(self, agent: str) -> bool:
        """Agents on the embedded model get no tools: small models do not call them reliably."""
        return not self.name_for(agent).startswith("local/")

    def llm_for(self, agent: str | None) -> Any:
        name = self.name_for(agent)
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> Any:
        if name.startswith("scripted"):
            from model_runtime.scripted import registered_scripted

            llm = registered_scripted(name.partition("/")[2] or "default")
            if llm is None:
                raise ModelSetupError(f"no scripted model registered as '{name}'",
                                      "register one with model_runtime.scripted.register_scripted() in your test")
            return llm
        from model_runtime.providers import build_llm, check_reachable

        base_url = self.base_url or self.settings.base_url
        if base_url and not name.startswith("local/"):
            check_reachable(base_url)
        return build_llm(name, self.settings, base_url=self.base_url, parallel=self.parallel)

    def prepare(self) -> None:
        """Build every model the crew needs now, so a missing key or a dead endpoint stops the run before any item
        is touched (exit 2 or 1), instead of failing every batch."""
        crew = self.project.crews[self.crew]
        for agent in crew.agents:
            self.llm_for(agent)
        if crew.process == "hierarchical" or crew.manager_llm or crew.manager:
            self.llm_for(crew.manager)

    def models_in_use(self) -> list[str]:
        return sorted(self._built)
