"""What a run is asked to do beyond the YAML (``RunOptions``), and the tools it may load (``ToolBox``).

Its own module so the engine (``datapath``, ``batch_runner``, ``ray_worker``) and the commands share them
without importing the runner that drives the engine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from etlcrew.tools.registry import ToolInfo, load_tool

if TYPE_CHECKING:
    from etlcrew.pipeline.control import Budget
    from etlcrew.specs.models import CrewSpec


@dataclass(frozen=True)
class RunOptions:
    """What the command line (or a caller) asks of a run, beyond the YAML."""

    crew: str
    inputs: dict[str, object]
    process: str | None = None
    model: str | None = None
    base_url: str | None = None
    batch_size: int | None = None
    concurrency: int | None = None
    full_refresh: bool = False
    max_llm_calls: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None
    verbose: bool = False
    executor: str = "local"  # or "ray": batches as tasks on a Ray cluster (pipeline.executors)
    ray_address: str | None = None
    only_items: tuple[str, ...] | None = None  # process just these item ids (``eval``: the labelled items)
    retry_review: bool = False  # ask the model again about items held for review (else they wait for a person)

    def resolved_for(self, spec: CrewSpec) -> RunOptions:
        """The run plan: flags over the crew's YAML, resolved once at the start so every step reads one value
        (and the config hash covers a value whichever way it was set)."""
        budget = spec.budget
        process = self.process or spec.process
        size = 1 if process == "graph" else self.batch_size or spec.batch_size  # graph: one thread per item
        return replace(self, process=process, batch_size=size,
                       concurrency=self.concurrency or spec.concurrency,
                       max_llm_calls=self.max_llm_calls or budget.max_llm_calls,
                       max_tokens=self.max_tokens or budget.max_tokens,
                       max_seconds=self.max_seconds or budget.max_seconds)

    def budget(self) -> Budget:
        """The budget of the resolved plan (flags over the crew's ``budget:``)."""
        from etlcrew.pipeline.control import Budget

        return Budget(max_llm_calls=self.max_llm_calls, max_tokens=self.max_tokens, max_seconds=self.max_seconds)


class ToolBox:
    """Loads each named tool once per run; batches building crews at once share it safely."""

    def __init__(self, tools: dict[str, ToolInfo]) -> None:
        self.infos = tools
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def __call__(self, names: list[str]) -> list[object]:
        with self._lock:
            for name in names:
                if name not in self._loaded:
                    self._loaded[name] = load_tool(self.infos[name])
            return [self._loaded[n] for n in names]
