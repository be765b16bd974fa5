"""Helpers shared by every source: decoding, size limits and record text (redaction: ``etlcrew.redact``).

Kept apart so each source module only says how to read its kind of input, and every source words its
quarantine reasons the same way.
"""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import json
from collections.abc import Iterable
from typing import Any

from etlcrew.pipeline.items import Item, bad_item, make_item

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
class DecodeProblem(ValueError):
    """Bytes that no candidate encoding decodes; the message is the quarantine reason."""


def num(n: int) -> str:
    """12345 -> '12 345': byte counts readable in reasons."""
    return f"{n:,}".replace(",", " ")


def same_codec(a: str, b: str) -> bool:
    """True when two encoding names are the same codec (``UTF8`` and ``utf-8``)."""
    try:
        return codecs.lookup(a).name == codecs.lookup(b).name
    except LookupError:
        return a.lower() == b.lower()


def declared_charsets(name: str | None) -> tuple[str, ...]:
    """Codecs to try for a charset a document declares: ISO-8859-1 and ASCII mean Windows-1252, as browsers
    read them (WHATWG), because mail and web pages labelled so often hold cp1252's curly quotes and euro sign."""
    if not name:
        return ()
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return (name,)
    return ("cp1252", name) if codec in ("iso8859-1", "ascii") else (name,)


def _decode(data: bytes, encoding: str, final: bool) -> str:
    if final:
        return data.decode(encoding)
    return codecs.getincrementaldecoder(encoding)("strict").decode(data, final=False)


def decode_bytes(data: bytes, fallbacks: Iterable[str | None] = (), *, final: bool = True) -> tuple[str, str]:
    """Decode as UTF-8 (BOM allowed), UTF-16/32 with a BOM, then each fallback; ``final=False`` for a cut read.

    Returns ``(text, encoding)``; raises ``DecodeProblem`` saying where UTF-8 failed and what else was tried.
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return _decode(data, enc, final), enc
            except UnicodeDecodeError as e:
                raise DecodeProblem(f"not valid {enc.upper()} (BOM present) at byte {e.start}") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DecodeProblem(f"binary content: NUL byte at byte {nul}")
    try:
        return _decode(data, "utf-8-sig", final), "utf-8"
    except UnicodeDecodeError as e:
        first = e
    tried: list[str] = []
    for enc in fallbacks:
        if not enc or same_codec(enc, "utf-8") or enc in tried:
            continue
        tried.append(enc)
        try:
            return _decode(data, enc, final), enc
        except (UnicodeDecodeError, LookupError):
            continue
    bad = data[first.start:first.start + 1].hex()
    nor = f" nor {', '.join(tried)}" if tried else "; set the source's 'encoding' if the files use another one"
    raise DecodeProblem(f"not valid UTF-8 at byte {first.start} (0x{bad}){nor}")


def jsonable(value: Any) -> Any:
    """A value safe to store as JSON metadata: dates as ISO text, decimals and other objects as text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{num(len(raw))} bytes>"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def record_text(record: dict[str, Any]) -> str:
    """One ``column: value`` line per field: what the model reads for a row or a JSON object."""
    return "\n".join(f"{k}: {_field_text(v)}" for k, v in record.items())


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, list | dict) and not value)


def is_blank_record(record: dict[str, Any]) -> bool:
    """No field carries a value (all None, blank text, or empty containers)."""
    return all(_blank(v) for v in record.values())


def sized_item(source: str, max_bytes: int, truncate: bool, key: str, text: str,
               metadata: dict[str, Any] | None = None) -> Item:
    """A good item when the text fits in ``max_bytes`` (UTF-8); else truncated, or quarantined with the sizes."""
    metadata = dict(metadata or {})
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size <= max_bytes:
        return make_item(source, key, text, metadata)
    if truncate:
        cut = text.encode("utf-8", errors="surrogatepass")[:max_bytes].decode("utf-8", errors="ignore")
        return make_item(source, key, cut, metadata | {"truncated": True, "original_bytes": size})
    return bad_item(source, key, f"{num(size)} bytes > max_bytes {num(max_bytes)}", text, metadata)


class KeyTracker:
    """Natural keys seen so far in one file or result, so a repeated key is quarantined instead of merged."""

    def __init__(self) -> None:
        self._first: dict[str, str] = {}

    def check(self, key: str, where: str) -> str | None:
        """None when new; else the reason naming where the key was first seen."""
        first = self._first.get(key)
        if first is None:
            self._first[key] = where
            return None
        return f"duplicate key {key!r} (first seen at {first})"


def key_value(record: dict[str, Any], field: str) -> tuple[str | None, str | None]:
    """``(key, None)`` when the record has a usable scalar at ``field``, else ``(None, reason)``."""
    if field not in record:
        return None, f"has no key field {field!r}"
    value = record[field]
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, f"has an empty key field {field!r}"
    if isinstance(value, dict | list):
        return None, f"key field {field!r} is a {type(value).__name__}, not a scalar"
    return str(jsonable(value)), None
