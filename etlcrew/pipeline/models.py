"""Pick and build the model for each agent of a run, once per distinct model, behind the retry layer.

Precedence (``model_runtime.providers.resolve_model_name``): ``--model`` > the agent's ``llm:`` > the crew's
``model:`` > ``MODEL`` > the embedded default. ``scripted/<name>`` selects a ``ScriptedLLM`` registered in-process.
Each agent gets a ``ResilientLLM`` over its chain: its model, then the agent's ``fallback_models`` or else the
crew's. All wrappers of a run share one failure breaker, so a dead endpoint stops the run after
``retry.max_consecutive_failures`` failed calls in a row instead of failing every batch slowly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etlcrew.errors import ModelSetupError
from etlcrew.settings import Settings
from etlcrew.specs.project import ProjectSpec

HOSTED_TIMEOUT_S = 120.0
LOCAL_TIMEOUT_S = 900.0  # SmolLM2 writes ~30 tokens/s alone; a batch's 2,000 tokens under load took over 120 s


class ModelChooser:
    """Maps agent names to LLM instances; instances are shared per model name (counting uses events)."""

    def __init__(self, project: ProjectSpec, crew: str, settings: Settings, flag_model: str | None,
                 base_url: str | None, parallel: int = 1, should_stop: Callable[[], bool] | None = None,
                 reserve: Callable[[], bool] | None = None) -> None:
        self.project, self.crew, self.settings = project, crew, settings
        self.flag_model, self.base_url, self.parallel = flag_model, base_url, parallel
        self.should_stop, self.reserve = should_stop, reserve  # reserve: ``RunControl.reserve_call``
        self.retry = project.crews[crew].retry
        self._breaker: Any = None  # built with the first model: naming models must not import CrewAI (dry run)
        self._built: dict[str, Any] = {}
        self._wrapped: dict[tuple[str, ...], Any] = {}

    def breaker(self) -> Any:
        """The failure breaker all the run's models share."""
        from etlcrew.model_runtime.resilience import FailureBreaker

        if self._breaker is None:
            self._breaker = FailureBreaker(self.retry.max_consecutive_failures)
        return self._breaker

    def name_for(self, agent: str | None) -> str:
        from etlcrew.model_runtime.providers import resolve_model_name

        crew = self.project.crews[self.crew]
        agent_llm = self.project.agents[agent].llm if agent in self.project.agents else crew.manager_llm
        return resolve_model_name(self.flag_model, agent_llm, crew.model, self.settings.model,
                                  default=f"local/{self.settings.embedded_model}")

    def uses_tools(self, agent: str) -> bool:
        """Agents on the embedded model get no tools: small models do not call them reliably."""
        return not self.name_for(agent).startswith("local/")

    def chain_for(self, agent: str | None) -> tuple[str, ...]:
        """The agent's model, then its fallbacks (the agent's own ``fallback_models``, else the crew's)."""
        from etlcrew.model_runtime.providers import normalise

        crew = self.project.crews[self.crew]
        own = self.project.agents[agent].fallback_models if agent in self.project.agents else []
        primary = self.name_for(agent)
        fallbacks = [normalise(m) for m in (own or crew.fallback_models)]
        return (primary, *[m for m in dict.fromkeys(fallbacks) if m != primary])

    def _raw(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def llm_for(self, agent: str | None) -> Any:
        """The agent's LLM: a ``ResilientLLM`` over its chain, shared by the agents with the same chain."""
        from etlcrew.model_runtime.resilience import ResilientLLM
        from etlcrew.model_runtime.retry import RetryPolicy

        chain = self.chain_for(agent)
        if chain not in self._wrapped:
            policy = RetryPolicy(attempts=self.retry.attempts, backoff_s=self.retry.backoff_s,
                                 max_backoff_s=self.retry.max_backoff_s, timeout_s=None,  # set per model
                                 max_consecutive_failures=self.retry.max_consecutive_failures)
            self._wrapped[chain] = ResilientLLM([(name, self._raw(name)) for name in chain], policy, self.breaker(),
                                                should_stop=self.should_stop, reserve=self.reserve)
        return self._wrapped[chain]

    def _build(self, name: str) -> Any:
        if name.startswith("scripted"):
            from etlcrew.model_runtime.scripted import registered_scripted

            llm = registered_scripted(name.partition("/")[2] or "default")
            if llm is None:
                raise ModelSetupError(f"no scripted model registered as '{name}'",
                                      "register one with model_runtime.scripted.register_scripted() in your test")
            return llm
        from etlcrew.model_runtime.providers import build_llm, check_reachable, provider_base_url

        base_url = self.base_url or self.settings.base_url or provider_base_url(name)
        if not base_url and name.startswith(("ollama/", "ollama_chat/")):
            base_url = "http://localhost:11434/v1"
        if base_url and not name.startswith("local/"):
            check_reachable(base_url)
        return build_llm(name, self.settings, base_url=self.base_url, parallel=self.parallel,
                         timeout=self.timeout_for(name))

    def timeout_for(self, name: str) -> float:
        """The per-call timeout: the crew's ``retry.timeout_s``, else one that suits where the model runs."""
        if self.retry.timeout_s is not None:
            return self.retry.timeout_s
        return LOCAL_TIMEOUT_S if name.startswith("local/") else HOSTED_TIMEOUT_S

    def prepare(self) -> None:
        """Build every model the crew needs now, so a missing key or a dead endpoint stops the run before any item
        is touched (exit 2 or 1), instead of failing every batch."""
        crew = self.project.crews[self.crew]
        for agent in crew.agents:
            self.llm_for(agent)
        if crew.process == "hierarchical" or crew.manager_llm or crew.manager:
            self.llm_for(crew.manager)

    def planned_models(self) -> list[str]:
        """Every model the crew may use (primaries and fallbacks), known without building any."""
        crew = self.project.crews[self.crew]
        agents: list[str | None] = list(crew.agents)
        if crew.process == "hierarchical" or crew.manager_llm or crew.manager:
            agents.append(crew.manager)
        return sorted({name for agent in agents for name in self.chain_for(agent)})
