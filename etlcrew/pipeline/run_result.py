"""What a run reports, in one shape: the JSON object of ``run --json``, the objects of ``runs --json`` and
``show --json``, the human summary lines of ``run`` and ``show``, and the command that continues a run.

Light on purpose (no CrewAI, no pipeline imports): the ledger-reading commands use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from etlcrew.printable import one_line

RunStatus = Literal["running", "succeeded", "partial", "failed", "interrupted", "stopped"]
RESUMABLE = ("failed", "interrupted", "stopped")
OLD_STATUS = {"stopped-by-budget": "stopped"}  # names older ledgers hold


def status_of(stored: str) -> str:
    """A ledger row's status under today's name (runs that stopped on their budget were ``stopped-by-budget``)."""
    return OLD_STATUS.get(stored, stored)
LLM_KEYS = ("calls", "failed_calls", "prompt_tokens", "completion_tokens", "cost_usd")


def resume_command(run_id: str) -> str:
    """The command that continues run ``run_id``: every message that points to it says it this way."""
    from etlcrew.invocation import command

    return command("resume", run_id)


def show_command(run_id: str) -> str:
    from etlcrew.invocation import command

    return command("show", run_id)


def resume_hint(run_id: str) -> str:
    """The hint of a run that stopped early: what is kept, and the command with the real run id."""
    return f"finished work is kept; continue with: {resume_command(run_id)}"


def with_resume_hint(hint: str | None, run_id: str) -> str:
    """``hint`` ending with the resume hint, unless it already names the command."""
    if hint and resume_command(run_id) in hint:
        return hint
    return f"{hint}; {resume_hint(run_id)}" if hint else resume_hint(run_id)


def budget_message(limit: str, spent: Any, budget: Any) -> str:
    """Why a run stopped on its budget, with what it spent against every limit set (the run's total, resumes
    included): ``limit`` is the flag name, ``spent`` a ``control.Spent``, ``budget`` a ``control.Budget``."""
    figures = {"max_llm_calls": f"{spent.calls} calls", "max_tokens": f"{spent.tokens:,} tokens",
               "max_seconds": f"{spent.seconds:.1f} s"}
    limits = budget.limits()
    against = ", ".join(f"{figures[k]} of {v:g}" if k == "max_seconds" else f"{figures[k]} of {v:,}"
                        for k, v in limits.items())
    others = ", ".join(figures[k] for k in figures if k not in limits)
    return f"budget {limit} reached: spent {against}" + (f" ({others})" if others else "")


def budget_resume_command(run_id: str, budget: Any) -> str:
    """The command that continues a run stopped on its budget: the same limits, doubled (they count the run's
    total, so a resume with the same figures would stop at once)."""
    flags = " ".join(f"--{k.replace('_', '-')} {v * 2:g}" for k, v in budget.limits().items())
    return f"{resume_command(run_id)} {flags}".strip()


def llm_usage(values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``llm`` object of every summary, from anything holding its keys (a ledger row, totals)."""
    out = {key: values.get(key) or (0.0 if key == "cost_usd" else 0) for key in LLM_KEYS}
    if "cost_usd" in values and values["cost_usd"] is None:
        out["cost_usd"] = None  # a model without a price: unknown, not free
    return out


@dataclass
class ItemCounts:
    """extracted = loaded + review + quarantined + skipped + pending; pending is 0 once a run has finished.

    ``review``: valid records held back from the table for a person to check (``pipeline.review``).
    """

    extracted: int = 0
    loaded: int = 0
    quarantined: int = 0
    skipped: int = 0
    review: int = 0

    @property
    def pending(self) -> int:
        """Items not yet loaded, held for review or quarantined: the run stopped early and can be resumed."""
        return max(0, self.extracted - self.loaded - self.review - self.quarantined - self.skipped)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__) | {"pending": self.pending}

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> ItemCounts:
        """The counts from anything holding them (a ledger row: missing or NULL counts are 0)."""
        return cls(**{key: int(values.get(key) or 0) for key in ("extracted", "loaded", "quarantined", "skipped",
                                                                 "review")})


@dataclass
class RunResult:
    run_id: str
    crew: str
    process: str
    status: RunStatus = "running"
    items: ItemCounts = field(default_factory=ItemCounts)
    llm: dict[str, Any] = field(default_factory=lambda: llm_usage({}))
    models: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None
    outcome: dict[str, Any] | None = None  # the run's digest and action list (``pipeline.outcome.RunOutcome``)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id, "crew": self.crew, "status": self.status, "items": self.items.as_dict(),
            "llm": self.llm, "outputs": self.outputs, "duration_s": round(self.duration_s, 3),
            "process": self.process, "models": self.models,
        }
        if self.outcome is not None:
            data["outcome"] = self.outcome
        if self.error:
            data["error"] = self.error
        return data


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The human lines for a summary's items and model use (``run`` and ``show`` both print them)."""
    items, llm = summary["items"], summary["llm"]
    review = f", {items['review']} held for review" if items.get("review") else ""
    pending = f", {items['pending']} pending" if items.get("pending") else ""
    failed = f" ({llm['failed_calls']} failed)" if llm.get("failed_calls") else ""
    from etlcrew.model_runtime.usage import PRICE_HINT, cost_text, unpriced

    lines = [f"  items: {items['extracted']} extracted, {items['loaded']} loaded{review}, {items['quarantined']} "
             f"quarantined, {items['skipped']} skipped{pending}",
             f"  model: {', '.join(summary.get('models') or []) or '-'}: {llm['calls']} calls{failed}, "
             f"{llm['prompt_tokens']} prompt + {llm['completion_tokens']} completion tokens, "
             + ("cost unknown" if llm["cost_usd"] is None else cost_text(llm["cost_usd"]))]
    if llm["cost_usd"] is None:
        missing = ", ".join(unpriced(summary.get("models") or [])) or "a model"
        lines.append(f"  hint: {missing} has no price; {PRICE_HINT}")
    return lines


def outcome_lines(outcome: Mapping[str, Any] | None) -> list[str]:
    """The human lines for a run's outcome (``run`` and ``show``): the digest, who wrote it, the action list."""
    if not outcome:
        return []
    by = "by the publisher" if outcome["digest_source"] == "model" else "written by code"
    digest = " ".join(str(outcome["digest"]).split())
    held = set(outcome.get("held_item_ids") or [])
    ids = [one_line(i) + (" (held for review)" if i in held else "") for i in outcome["action_item_ids"]]
    return [f"  digest ({by}): {digest if len(digest) <= 600 else digest[:599] + '…'}",
            f"  needs action ({len(ids)}): {', '.join(ids) or 'none'}"]
