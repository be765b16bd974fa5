"""The unit of work: one item read from a source, with a stable id and a content hash.

A bad input (undecodable, empty, oversized) is still an ``Item``, carrying ``quarantine_reason``: nothing read
is silently dropped, and extracted = loaded + quarantined + skipped holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

RAW_PREVIEW_CHARS = 2_000


def content_hash(text: str) -> str:
    """SHA-256 of the text, hex; the same text always gives the same hash."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Item:
    """One thing to process: ``item_id`` is ``<source>:<natural key>`` and stable across runs."""

    item_id: str
    source: str
    text: str
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)
    quarantine_reason: str | None = None
    raw: str | None = None

    @property
    def quarantined(self) -> bool:
        return self.quarantine_reason is not None


def make_item(source: str, key: str, text: str, metadata: dict[str, Any] | None = None) -> Item:
    """A good item; the hash covers the text only, so metadata changes do not force reprocessing."""
    return Item(f"{source}:{key}", source, text, content_hash(text), dict(metadata or {}))


def bad_item(source: str, key: str, reason: str, raw: str | bytes | None = None,
             metadata: dict[str, Any] | None = None) -> Item:
    """A quarantined item: the reason says what is wrong and ``raw`` keeps a preview of the input.

    A reason built as ``f"...: {error}"`` from an error with no text would end in a bare ``:``; it is trimmed here
    so no reason reaches the ledger that way."""
    reason = " ".join(reason.split()).rstrip(" :;,") or "unreadable input"
    if isinstance(raw, bytes):
        raw = raw[:RAW_PREVIEW_CHARS].decode("utf-8", errors="replace")
    preview = (raw or "")[:RAW_PREVIEW_CHARS]
    return Item(f"{source}:{key}", source, "", content_hash(preview), dict(metadata or {}), reason, preview)
