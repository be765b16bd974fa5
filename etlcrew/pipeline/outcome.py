"""One outcome per run: after the last batch lands, one digest and one action list from all of the run's records.

Code computes the facts (``pipeline.facts``); the publisher (the crew's load task, one model call per run, none
when the crew has no load phase, the run has no records, or no call is left in the budget) writes prose around
them and, with ``actions: {from: publisher}`` or ``both``, picks action items among the records. A digest that is
not prose or states a number or item id that is not a fact (``pipeline.digest_check``) is replaced by the plain
one code writes, and the outcome says why. The outcome is committed to the ledger before the report is written, so
a resumed run reuses it instead of asking again; a replaced digest is kept there too (``model_digest``, redacted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from etlcrew import console
from etlcrew.pipeline.facts import ActionItem, RunFacts, code_digest, compute_facts, merge_actions


class RunParts(Protocol):
    """What the run's digest needs of the run (``pipeline.datapath.DataPath`` is one): its crew, records' ledger,
    budget control and model path. A protocol, so this module does not import the data path that calls it."""

    spec: Any
    project: Any
    options: Any
    settings: Any
    toolbox: Any
    runner: Any
    ledger: Any
    control: Any
    result: Any

DIGEST_CHARS = 900  # a few sentences: what the support lead reads first


@dataclass
class RunOutcome:
    """The run's digest, the items that need action (``held``: held for review) and who wrote the digest."""

    digest: str
    actions: list[ActionItem] = field(default_factory=list)
    digest_source: Literal["model", "code"] = "code"
    note: str | None = None  # why code wrote the digest, when the publisher was asked or could not be
    covers: str = ""  # the run's items it was written for: a resume with the same items reuses it
    model_digest: str | None = None  # what the publisher wrote when code replaced it (kept in the ledger, redacted)

    @property
    def action_item_ids(self) -> list[str]:
        return [a.item_id for a in self.actions]

    def as_dict(self) -> dict[str, Any]:
        """The ``outcome`` object of ``run --json`` and ``show --json``."""
        return {"digest": self.digest, "action_item_ids": self.action_item_ids, "digest_source": self.digest_source,
                "held_item_ids": [a.item_id for a in self.actions if a.held], "note": self.note}

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RunOutcome:
        data = json.loads(text)
        data["actions"] = [ActionItem(**a) for a in data.get("actions", [])]
        return cls(**data)


def stored_outcome(ledger: Any, run_id: str) -> dict[str, Any] | None:
    """The ``outcome`` object of a run from the ledger (``show``, ``resume`` of a finished run), if written."""
    text = ledger.run_outcome(run_id)
    return RunOutcome.from_json(text).as_dict() if text else None


def _covers(facts: RunFacts) -> str:
    return hashlib.sha256(json.dumps([facts.all_ids, facts.earlier]).encode()).hexdigest()[:16]


def run_outcome(path: RunParts, outcomes: list[Any]) -> RunOutcome:
    """The run's outcome from its landed ``outcomes``, committed to the ledger (reused when already there)."""
    spec, run_id = path.spec, path.result.run_id
    assert spec.output_schema is not None
    source = spec.actions.source
    rule = spec.actions.when if source in ("rule", "both") else None
    facts = compute_facts(outcomes, spec.output_schema, rule, earlier=path.result.items.skipped)
    stored = path.ledger.run_outcome(run_id)
    if stored:
        earlier = RunOutcome.from_json(stored)
        if earlier.covers == _covers(facts):
            return earlier
    outcome = _write(path, facts, source)
    outcome.covers = _covers(facts)
    path.ledger.save_run_outcome(run_id, outcome.to_json())
    return outcome


def _code(facts: RunFacts, note: str | None, source: str) -> RunOutcome:
    unlisted = source == "publisher" and note is not None  # the publisher never gave its list
    digest = code_digest(facts)
    if unlisted:
        digest += " The publisher chooses the items that need action, and it was not asked."
    return RunOutcome(digest, facts.actions, "code", note)


def _write(path: RunParts, facts: RunFacts, source: str) -> RunOutcome:
    """Ask the publisher when a call can be made, check its digest, else write the digest in code."""
    from etlcrew.pipeline.digest_check import check_digest, readable_digest

    load_task = next((t for t in path.spec.tasks if path.project.phase_of(t) == "load"), None)
    if load_task is None or facts.loaded + facts.review == 0:
        return RunOutcome(code_digest(facts), facts.actions, "code")
    control = path.control
    stop = "the run is stopping" if control.stop_requested() else control.budget_reached()
    if stop:
        return _code(facts, f"no model call was made for the digest: {stop}", source)
    ask = source in ("publisher", "both")
    text = facts.text(ask)
    try:
        digest, chosen = _ask_publisher(path, load_task, facts, text, ask)
    except Exception as exc:  # the records are landed: a failed digest call costs the prose, not the run
        console.warn(f"the digest call failed ({type(exc).__name__}: {exc}); the digest is written by code")
        return _code(facts, f"the publisher's call failed: {type(exc).__name__}: {exc}"[:300], source)
    final = facts.with_actions(merge_actions(facts, chosen) if ask else facts.actions)
    prose = readable_digest(digest)
    if prose is None:
        return RunOutcome(code_digest(final), final.actions, "code",
                          "the publisher's digest was not prose; this digest is written by code", model_digest=digest)
    wrong = check_digest(prose, final, text + f"\n- items that need action today: {len(final.actions)}")
    if wrong:
        return RunOutcome(code_digest(final), final.actions, "code",
                          f"the publisher's digest was replaced by this one, written by code: {wrong}",
                          model_digest=digest)
    return RunOutcome(prose, final.actions, "model")


def outcome_model(item_ids: list[str] | None) -> type[Any]:
    """The publisher's structured output: a digest, and (when it chooses) the ids of the items that need action."""
    from typing import Literal as Lit

    from pydantic import Field, create_model

    from etlcrew.pipeline.records import BatchBase

    fields: dict[str, Any] = {"digest": (str, Field(max_length=DIGEST_CHARS, description=(
        "a few sentences for the reader of the report, stating only the numbers and item ids of the facts")))}
    if item_ids:
        fields["action_item_ids"] = (list[Lit[tuple(item_ids)]], Field(default_factory=list))  # type: ignore[valid-type]
    return create_model("RunOutcome", __base__=BatchBase, **fields)  # type: ignore[call-overload, no-any-return]


def _ask_publisher(path: RunParts, load_task: str, facts: RunFacts, text: str, ask: bool) -> tuple[str, list[str]]:
    """One kickoff of the load task alone, through the run's normal model path; returns (digest, chosen ids)."""
    from etlcrew.crews.builder import build_crew
    from etlcrew.specs.placeholders import placeholders_in

    project, options = path.project, path.options
    task = project.tasks[load_task]
    model = outcome_model(list(facts.record_lines) if ask else None)
    runtime = {"items": "(see the facts)", "findings": "(see the facts)", "records": text, "schema": "(see the facts)",
               "batch": "run", "crew": options.crew, "run_id": path.result.run_id,
               "today": dt.date.today().isoformat()}
    done: list[Any] = []
    crew = build_crew(project, options.crew, inputs=runtime | options.inputs, llm_for=path.runner.chooser.llm_for,
                      tools_for=path.toolbox, project_dir=path.settings.project_dir,
                      process="sequential" if task.agent else options.process, output_models={load_task: model},
                      agent_tools=path.runner.chooser.uses_tools,
                      prior_outputs=dict.fromkeys(task.context, text), task_callback=done.append,
                      only_tasks={load_task})
    if not task.context and "records" not in placeholders_in(task.description):
        crew.tasks[0].description += "\n\n" + text  # the task reads no context: the facts go in its description
    crew.kickoff()
    result = done[-1].pydantic if done else None
    if result is None:
        return (done[-1].raw if done else ""), []
    return str(result.digest).strip(), [str(i) for i in getattr(result, "action_item_ids", [])]
