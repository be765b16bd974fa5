"""``GraphPath``: the data path of a ``process: graph`` run, each item a LangGraph thread ``<run>:<item>``.

Reading, planning (batches of one item), landing (dlt merge, ledger), finishing and resuming are the
``DataPath``'s; what differs is how an item becomes its outcome: the item's thread runs (or continues from its
last checkpoint) through the nodes of ``graph.build``. A thread that waits in ``approve`` leaves its item
unlanded; ``approve RUN_ID ITEM|--all`` marks it approved and continues the run, which resumes the thread with
``Command(resume=...)``. Landed items' threads are pruned at the end of each run.
"""

from __future__ import annotations

from typing import Any

from etlcrew import console
from etlcrew.errors import EtlcrewError
from etlcrew.ledger import graph_store
from etlcrew.pipeline.batches import Batch
from etlcrew.pipeline.datapath import DataPath
from etlcrew.pipeline.executors import LocalExecutor
from etlcrew.pipeline.graph import load_langgraph
from etlcrew.pipeline.graph.checkpoints import open_checkpointer, prune, thread_id
from etlcrew.pipeline.journal import BatchOutcome, StoredBatch
from etlcrew.pipeline.run_result import resume_command, resume_hint


def approve_command(run_id: str) -> str:
    return resume_command(run_id).replace(" resume ", " approve ") + " --all"


class GraphPath(DataPath):
    """A ``DataPath`` whose items run as LangGraph threads (always on local threads: no Ray executor)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        load_langgraph()
        from etlcrew.pipeline.graph.build import build_graph, warm_up
        from etlcrew.pipeline.graph.nodes import Nodes
        from etlcrew.pipeline.graph.routes import Router

        self.saver = open_checkpointer(self.settings.state_dir)
        router = Router(dict(self.spec.routes), list(self.schema.fields))
        self.nodes = Nodes(self.runner, self.journal, self.ledger, router)
        self.graph = build_graph(self.nodes, list(self.runner.phases), self.saver)
        warm_up()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.saver.conn.close()

    def _executor(self, concurrency: int) -> LocalExecutor:  # type: ignore[override]
        return LocalExecutor(concurrency, self._process)

    def _process(self, batch: Batch, earlier: StoredBatch | None) -> BatchOutcome:
        if earlier is not None and earlier.outcome is not None:
            self.journal.reused(earlier.outcome)
            return earlier.outcome  # its end node committed it before the crash: only landing is left
        self.journal.emit("batch_running", batch=batch.number)
        return self._thread(batch)  # type: ignore[return-value]  # None: waits for approval (not landed)

    def _thread(self, batch: Batch) -> BatchOutcome | None:
        """Run the item's thread from the start, or on from its last checkpoint; its outcome, or None while it
        waits for approval."""
        item = batch.items[0]
        run_id = self.result.run_id
        self.nodes.start(item)
        config: dict[str, Any] = {"configurable": {"thread_id": thread_id(run_id, item.item_id)}}
        return self._advance(item, batch.number, config)

    def _advance(self, item: Any, batch_no: int, config: dict[str, Any]) -> BatchOutcome | None:
        from langgraph.types import Command

        run_id = self.result.run_id
        snapshot = self.graph.get_state(config)
        try:
            if not snapshot.values:
                start = {"run_id": run_id, "item_id": item.item_id, "batch_no": batch_no, "attempts": {},
                         "taken": {}, "path": []}
                self.graph.invoke(start, config, durability="sync")
            elif snapshot.interrupts:
                if not graph_store.approved(self.ledger, run_id, item.item_id):
                    return None
                self.graph.invoke(Command(resume={"approved": True}), config, durability="sync")
            else:  # on from the crash: memoised calls are free. Not only when ``snapshot.next``: a node whose
                # writes were saved before the kill, but not the checkpoint after them, is left out of ``next``
                # though the thread has not ended (invoking a thread that has ended does nothing)
                self.graph.invoke(None, config, durability="sync")
            outcome = self.nodes.outcomes.pop(item.item_id, None)
            if outcome is None and not self.graph.get_state(config).interrupts:  # never lose an item quietly
                raise EtlcrewError(f"item {item.item_id}: its graph thread ended without an outcome",
                                   hint=resume_hint(run_id))
            return outcome
        finally:
            self.nodes.forget(item.item_id)

    def finish(self, budget_stop: str | None) -> None:
        """Prune landed items' threads, then the data path's finish; items waiting for approval make the run
        partial, with the command that lands them."""
        stored = self.journal.stored().values()
        prune(self.saver, self.result.run_id, [i for b in stored if b.state == "landed" for i, _ in b.members])
        super().finish(budget_stop)
        waiting = graph_store.waiting_items(self.ledger, self.result.run_id)
        if waiting and self.result.status == "succeeded":
            self.result.status = "partial"
        if waiting:
            console.info(f"{len(waiting)} items wait for approval before they land: "
                         f"{approve_command(self.result.run_id)} (or name one item instead of --all)")
