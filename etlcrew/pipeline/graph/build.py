"""The LangGraph ``StateGraph`` of one crew: phase nodes, ``validate`` and its routes, the end nodes.

    [extract ->] transform -> validate -+-> land ------------------+
                     ^                  +-> approve -> land        |
                     +---- (a route) ---+-> review                 +-> END
                                        +-> quarantine ------------+

The publisher's ``load`` phase is not a node: it is the run's one digest, written after the last item lands
(``pipeline.outcome``, through the data path's finish), as in ``sequential``. Landing is the data path's (dlt merge,
ledger), for items of all threads together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etlcrew.pipeline.graph.nodes import ItemState
from etlcrew.specs.routes import BUILT_IN

if TYPE_CHECKING:
    from etlcrew.pipeline.graph.nodes import Nodes


def warm_up() -> None:
    """Run a one-node graph once in this thread: LangGraph imports modules lazily on its first ``invoke``, and two
    item threads doing that first import at once failed with "dictionary changed size during iteration"."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, interrupt  # noqa: F401  (the approve node's, imported here once)

    graph = StateGraph(ItemState)
    graph.add_node("noop", lambda state: {"path": ["noop"]})
    graph.add_edge(START, "noop")
    graph.add_edge("noop", END)
    config: dict[str, Any] = {"configurable": {"thread_id": "warm-up"}}
    compiled = graph.compile(checkpointer=InMemorySaver())
    compiled.invoke({"path": []}, config, durability="sync")
    compiled.get_state(config)


def build_graph(nodes: Nodes, phases: list[str], checkpointer: Any) -> Any:
    """The compiled graph; ``phases`` are the crew's (an ``extract`` node only when it has that phase)."""
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(ItemState)
    first = "extract" if "extract" in phases else "transform"
    if "extract" in phases:
        graph.add_node("extract", nodes.extract)
        graph.add_edge("extract", "transform")
    for name in ("transform", "validate", *BUILT_IN):
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, first)
    graph.add_edge("transform", "validate")
    targets = [n for n in ("extract", "transform", *BUILT_IN) if n != "extract" or "extract" in phases]
    graph.add_conditional_edges("validate", lambda state: state["next"], targets)
    graph.add_edge("approve", "land")
    for end in ("land", "review", "quarantine"):
        graph.add_edge(end, END)
    return graph.compile(checkpointer=checkpointer)
