"""The run's budget across Ray workers: one small actor that every worker reserves its model calls from.

A local run's calls all reserve from the driver's ``RunControl``; Ray workers are other processes, so a run with a
budget (``--max-llm-calls``, ``--max-tokens``, ``--max-seconds``) starts a ``BudgetGate`` actor with the same
``RunControl`` inside, given what the run had spent when the cluster was reached. Workers reserve each attempt from
it before it starts and report each finished call's tokens, so the limit is never exceeded whatever the number of
workers. The actor runs one method at a time, so reservations are atomic. The driver counts what each task
reserved when it commits the task (``RunControl.count_remote``), so its figures and its own later calls (the run's
digest) continue from there. A run without a budget starts no gate (no round trip per call).
"""

from __future__ import annotations

from typing import Any

from etlcrew.pipeline.control import Budget, RunControl


class BudgetGate:
    """The run's budget as a Ray actor (``ray.remote(num_cpus=0)(BudgetGate)``): reserve, tokens, the limit hit."""

    def __init__(self, budget: Budget, spent_before: tuple[int, int, float]) -> None:
        self._tokens = 0
        self._control = RunControl(budget, lambda: (0, self._tokens), spent_before=spent_before)

    def reserve(self) -> bool:
        return self._control.reserve_call()

    def add_tokens(self, tokens: int) -> None:
        self._tokens += tokens

    def budget_stop(self) -> str | None:
        return self._control.budget_stop


def start_gate(ray: Any, control: RunControl) -> Any:
    """A ``BudgetGate`` actor for the run's budget from what ``control`` has spent so far; ``None`` without one."""
    if not control.budget.limits():
        return None
    spent = control.spent()
    gate = ray.remote(num_cpus=0)(BudgetGate)
    return gate.remote(control.budget, (spent.calls, spent.tokens, spent.seconds))
