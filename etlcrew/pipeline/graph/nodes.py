"""The nodes of an item's graph: the crew's phases (model calls, memoised in the ledger), ``validate`` (code checks
the record and picks the route), and the ends: ``land``, ``review``, ``quarantine``, with ``approve`` (an
``interrupt()``) before ``land``.

Graph state is plain JSON: ids, attempts per phase (the ledger key of each output is (run, item, phase, attempt)),
route counters, the nodes passed. No item text and no CrewAI object is in it: the text stays in ``items`` (the
data path re-reads it from the source on resume), the outputs in the ledger (``ledger.graph_store``).
An end node commits the item's outcome (``RunJournal.outcome_done``) as a one-item batch; ``GraphPath`` lands it
with the others, as ``sequential`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

from etlcrew.ledger import graph_store
from etlcrew.pipeline import failpoints
from etlcrew.pipeline.batch_runner import _parse
from etlcrew.pipeline.batches import Batch, batch_output_model
from etlcrew.pipeline.journal import BatchOutcome
from etlcrew.pipeline.records import QuarantineRow, validate_batch
from etlcrew.pipeline.review import ReviewRow

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.pipeline.batch_runner import BatchRunner
    from etlcrew.pipeline.graph.routes import Router
    from etlcrew.pipeline.items import Item
    from etlcrew.pipeline.journal import RunJournal


class ItemState(TypedDict, total=False):
    """One item's graph state (checkpointed after every node)."""

    run_id: str
    item_id: str
    batch_no: int
    attempts: dict[str, int]  # phase -> model passes made; the last one's output is the phase's
    taken: dict[str, int]  # route ("transform#0") -> times taken, for ``max``
    path: list[str]  # nodes passed, in order: what ``show`` draws
    next: str  # the node ``validate`` chose
    why: str  # the route's condition, or the validation error


class Nodes:
    """The node functions, sharing the run's runner, journal and ledger; thread-safe like ``BatchRunner``."""

    def __init__(self, runner: BatchRunner, journal: RunJournal, ledger: Ledger, router: Router) -> None:
        self.runner, self.journal, self.ledger, self.router = runner, journal, ledger, router
        self.items: dict[str, Item] = {}  # item_id -> item, while its thread runs
        self.outcomes: dict[str, BatchOutcome] = {}  # item_id -> outcome its end node committed
        self._models: dict[str, type] = {}  # item_id -> its one-item output model, while its thread runs

    def start(self, item: Item) -> None:
        """The item's thread is about to run: its nodes can read it."""
        self.items[item.item_id] = item

    def forget(self, item_id: str) -> None:
        """The item's thread has stopped (ended, waiting or failed)."""
        self.items.pop(item_id, None)
        self._models.pop(item_id, None)

    def _model(self, item_id: str) -> type:
        """The item's output model, built once per thread: pydantic takes tens of ms to build one, and the
        transform, ``validate`` and the end node each need it (``sequential`` builds one per batch)."""
        model = self._models.get(item_id)
        if model is None:
            model = self._models[item_id] = batch_output_model(self.runner.schema, [item_id])
        return model

    # -- phases: one model pass each, memoised ----------------------------------------------------------------

    def _pass(self, state: ItemState, phase: str, make: Callable[[Batch], dict[str, Any]]) -> ItemState:
        """Run ``make`` for the next attempt of ``phase`` unless the ledger already has its output."""
        from etlcrew.run_context import CURRENT_BATCH

        item_id, run_id = state["item_id"], state["run_id"]
        attempt = state.get("attempts", {}).get(phase, 0) + 1
        if graph_store.saved_output(self.ledger, run_id, item_id, phase, attempt) is None:
            token = CURRENT_BATCH.set(state["batch_no"])
            try:
                output = make(Batch(state["batch_no"], [self.items[item_id]]))
            finally:
                CURRENT_BATCH.reset(token)
            graph_store.save_output(self.ledger, run_id, item_id, phase, attempt, output)
            failpoints.hit(f"phase:{phase}")
        return {"attempts": state.get("attempts", {}) | {phase: attempt}, "path": [*state.get("path", []), phase]}

    def _output(self, state: ItemState, phase: str) -> dict[str, Any]:
        found = graph_store.saved_output(self.ledger, state["run_id"], state["item_id"], phase,
                                         state["attempts"][phase])
        assert found is not None, "a phase node commits its output before its state"
        return found

    def extract(self, state: ItemState) -> ItemState:
        def make(batch: Batch) -> dict[str, Any]:
            raw, _, context = self.runner.phase_output(batch, self.runner._models(batch), {}, "extract")
            return {"text": raw, "context": context}

        return self._pass(state, "extract", make)

    def transform(self, state: ItemState) -> ItemState:
        texts = {"extract": self._output(state, "extract")["context"]} if "extract" in state.get("attempts", {}) \
            else {}

        def make(batch: Batch) -> dict[str, Any]:
            model = self._model(batch.item_ids[0])
            raw, parsed, _ = self.runner.phase_output(batch, {"transform": model}, texts, "transform")
            valid = validate_batch(parsed, batch.item_ids, model).valid
            confidence = self.runner._confidence(valid)  # taken now: the call's log-probabilities go with it
            return {"text": raw, "confidence": confidence.get(batch.item_ids[0], {})}

        return self._pass(state, "transform", make)

    # -- validate and route ---------------------------------------------------------------------------------------

    def _checked(self, state: ItemState) -> tuple[dict[str, Any] | None, str, str, dict[str, float]]:
        """(valid record or None, why not, the model's text, confidence per enum field) of the last transform."""
        output = self._output(state, "transform")
        item_id = state["item_id"]
        model = self._model(item_id)
        checked = validate_batch(_parse(model, output["text"]), [item_id], model)
        record = checked.valid.get(item_id)
        return record, checked.reason(item_id) or "no valid record", output["text"], output.get("confidence", {})

    def validate(self, state: ItemState) -> ItemState:
        record, reason, _, confidence = self._checked(state)
        lowest = min(confidence.values()) if confidence else None
        goto, why, taken = self.router.decide(record, lowest, state.get("taken", {}))
        return {"next": goto, "why": why or (reason if record is None else ""), "taken": taken,
                "path": [*state["path"], "validate"]}

    # -- ends -----------------------------------------------------------------------------------------------------

    def _commit(self, state: ItemState, node: str, outcome: BatchOutcome) -> ItemState:
        outcome.batch_no = state["batch_no"]
        path = [*state["path"], node]
        graph_store.save_route(self.ledger, state["run_id"], state["item_id"], path)
        self.journal.outcome_done(outcome)
        self.outcomes[state["item_id"]] = outcome
        return {"path": path}

    def land(self, state: ItemState) -> ItemState:
        record, _, _, confidence = self._checked(state)
        assert record is not None, "validate routes only valid records here"
        outcome = BatchOutcome(records=[record], confidence={state["item_id"]: confidence} if confidence else {})
        self.runner._hold_unsure(outcome)  # review: {min_confidence: ...} as in sequential
        return self._commit(state, "land", outcome)

    def review(self, state: ItemState) -> ItemState:
        record, _, _, confidence = self._checked(state)
        assert record is not None, "validate routes only valid records here"
        held = BatchOutcome(review=[ReviewRow(state["item_id"], state["why"], record)],
                            confidence={state["item_id"]: confidence} if confidence else {})  # the person sees them
        return self._commit(state, "review", held)

    def quarantine(self, state: ItemState) -> ItemState:
        record, reason, text, _ = self._checked(state)
        item = self.items[state["item_id"]]
        why = reason if record is None else state.get("why") or reason
        row = QuarantineRow(item.item_id, item.source, why[:2000], item.text[:2000], text[:4000])
        return self._commit(state, "quarantine", BatchOutcome(quarantined=[row]))

    def approve(self, state: ItemState) -> ItemState:
        """Wait for ``approve RUN_ID ITEM``: the thread stops here (checkpointed) until the run is continued."""
        from langgraph.types import interrupt

        path = [*state["path"], "approve"]
        graph_store.save_route(self.ledger, state["run_id"], state["item_id"], path, waiting="approve")
        interrupt({"item_id": state["item_id"], "why": state.get("why", "")})
        return {"path": path}
