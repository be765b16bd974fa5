"""The run ledger: one SQLite file (``.etlcrew/ledger.db``, WAL) that owns what etlcrew remembers between runs.

It records runs (crew, inputs, config hash, models, status, counts), the last outcome of every item (content
hash and the config hash it was processed with), and every model call. Incremental re-runs read it: an item
whose content and relevant config are unchanged since it was last loaded is skipped. The schema evolves only
through the numbered migrations in ``ledger.migrations``.
"""

from pathlib import Path

from etlcrew.ledger.store import LEDGER_FILE, Ledger, open_ledger

__all__ = ["Ledger", "open_existing", "open_ledger"]


def open_existing(state_dir: Path) -> Ledger | None:
    """The ledger, or None when no run was ever recorded here: reading must not create state."""
    return open_ledger(state_dir) if (state_dir / LEDGER_FILE).is_file() else None
