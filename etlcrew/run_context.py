"""The batch a thread is working on, for whoever reports what happens in it (the ledger's call records, events).

A kernel module: the data path sets it around a kickoff, and the model layer and the event stream read it, without
either importing the other. CrewAI runs event handlers with a copy of the calling thread's context variables, so a
handler sees the caller's batch.
"""

from __future__ import annotations

import contextvars

CURRENT_BATCH: contextvars.ContextVar[int | None] = contextvars.ContextVar("etlcrew_batch", default=None)
