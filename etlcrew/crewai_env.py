"""Import CrewAI only through here, so it never phones home and keeps its files in our state directory.

CrewAI sends telemetry, traces and version checks unless told not to, and the first offline kickoff stalls
about 10 s on them. The variables must be set before ``crewai`` is first imported.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

QUIET_CREWAI = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
}
REPLAY_LOG = "latest_kickoff_task_outputs.db"  # CrewAI's file name, under its storage folder


def prepare_crewai_environment(state_dir: Path) -> None:
    """Switch off CrewAI's network habits and pin its storage under ``state_dir/crewai``."""
    for name, value in QUIET_CREWAI.items():
        os.environ[name] = value
    storage = state_dir / "crewai"
    storage.mkdir(parents=True, exist_ok=True)
    os.environ["CREWAI_STORAGE_DIR"] = str(storage)
    # CrewAI keeps the last kickoff's task outputs and inputs (prompts, source text) here for ``crewai replay``;
    # our crews never write it (``without_replay_log``): an older one goes, with whatever it held
    (storage / REPLAY_LOG).unlink(missing_ok=True)
    _pin_crewai_account_files(storage)
    # our task callback (it commits each phase to the ledger) is a closure; CrewAI warns that its own
    # checkpointing cannot serialise it, but the ledger, not CrewAI's checkpoints, is how runs resume
    warnings.filterwarnings("ignore", message="function callbacks cannot be serialized", category=UserWarning)


def _pin_crewai_account_files(storage: Path) -> None:
    """Keep CrewAI's per-account files (platform settings, the key for its login tokens) out of the user's home.

    Importing crewai creates ``~/.config/crewai/`` and writes ``~/.local/share/crewai/credentials/secret.key``
    even with tracing off, and neither path has a variable. A run logs in nowhere, so the key is made in memory
    and never written, and both lookups point under ``storage``; this process only, HOME and XDG_* stay as set.
    """
    from crewai_core import settings, token_manager
    from cryptography.fernet import Fernet

    credentials = storage / "credentials"

    def secure_storage_path() -> Path:
        credentials.mkdir(mode=0o700, parents=True, exist_ok=True)
        return credentials

    def key_in_memory(_self: Any) -> bytes:
        return Fernet.generate_key()

    settings.DEFAULT_CONFIG_PATH = storage / "settings.json"  # read at call time by get_writable_config_path
    manager = token_manager.TokenManager
    manager._get_secure_storage_path = staticmethod(secure_storage_path)  # type: ignore[method-assign]
    manager._get_or_create_key = key_in_memory  # type: ignore[method-assign]


class _NoReplayLog:
    """Stands in for CrewAI's ``TaskOutputStorageHandler``: keeps nothing. The ledger, not CrewAI's replay log,
    is how a run resumes, and the log would hold every prompt's source text unredacted."""

    def update(self, task_index: int, log: dict[str, Any]) -> None:
        pass

    def add(self, *args: Any, **kwargs: Any) -> None:
        pass

    def reset(self) -> None:
        pass

    def load(self) -> None:
        return None


def _no_replay_log_by_default() -> None:
    """Every ``Crew`` starts with ``_NoReplayLog``: CrewAI's default store opens its SQLite file in ``__init__``
    (creating the table), and two processes doing that while a third removes the old file (Ray workers, each
    preparing the environment) failed a batch with "Database initialization error: disk I/O error"."""
    from crewai.crew import Crew

    Crew.__private_attributes__["_task_output_handler"].default_factory = _NoReplayLog


def without_replay_log(crew: Any) -> Any:
    """``crew``, made to keep no copy of its tasks' inputs and outputs on disk (CrewAI has no setting for it)."""
    crew._task_output_handler = _NoReplayLog()
    return crew


_named_locks: dict[str, threading.Lock] = {}
_named_locks_guard = threading.Lock()


@contextmanager
def _thread_lock(name: str, *, timeout: float = 120) -> Iterator[None]:
    """CrewAI's named locks, held in-process: its default file lock polls in 0.25 s steps and serialised our
    concurrent batches (measured: 3.6x instead of 6.4x at concurrency 8, bench/concurrency.py). Separate
    processes still rely on SQLite's own locking of CrewAI's stores."""
    with _named_locks_guard:
        held = _named_locks.setdefault(name, threading.Lock())
    if not held.acquire(timeout=timeout):
        raise TimeoutError(f"CrewAI lock {name!r} not acquired in {timeout} s")
    try:
        yield
    finally:
        held.release()


def import_crewai(state_dir: Path) -> ModuleType:
    """Prepare the environment, then import and return ``crewai`` (6-7 s the first time)."""
    prepare_crewai_environment(state_dir)
    from etlcrew import ast_guard

    ast_guard.install()  # batches and graph items kick off crews on threads: each kickoff calls ast.parse
    import crewai
    from crewai.events import event_context
    from crewai_core.lock_store import set_lock_backend

    set_lock_backend(_thread_lock)
    _no_replay_log_by_default()
    # CrewAI's event-scope bookkeeping warns "Event pairing mismatch" when concurrent batches interleave their
    # events; nothing a user can act on, and our own events carry the batch number
    event_context._default_config.mismatch_behavior = event_context.MismatchBehavior.SILENT
    event_context._default_config.empty_pop_behavior = event_context.MismatchBehavior.SILENT
    return crewai


def quiet_crewai_logging() -> None:
    """CrewAI logs warnings and the errors we handle ourselves (invalid output is retried, then quarantined)."""
    for name in ("crewai", "LiteLLM", "httpx", "openai"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger().setLevel(logging.CRITICAL)
