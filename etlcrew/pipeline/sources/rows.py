"""Row-shaped files: one item per CSV row, per JSON array element, per JSON Lines line.

CSV and JSONL are streamed line by line; a bad row or line is quarantined alone and the file goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from etlcrew.pipeline.items import Item, bad_item
from etlcrew.pipeline.sources.common import (
    DecodeProblem,
    KeyTracker,
    decode_bytes,
    is_blank_record,
    jsonable,
    key_value,
    record_text,
    same_codec,
    sized_item,
)
from etlcrew.specs.datapath import FilesSource

_DELIMITERS = ",;\t|"
_CHUNK = 1 << 16


def stream_encoding(fh: BinaryIO, fallback: str) -> str | None:
    """The first of UTF-8 (BOM allowed), a BOM-declared UTF-16, or ``fallback`` that decodes the whole file.

    Reads in chunks so big files are never held in memory; None when no candidate decodes every byte.
    Leaves ``fh`` at its start.
    """
    fh.seek(0)
    head = fh.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        fh.seek(0)
        return "utf-16"
    candidates = ["utf-8-sig"] + ([] if same_codec(fallback, "utf-8") else [fallback])
    found = None
    for enc in candidates:
        decoder = codecs.getincrementaldecoder(enc)("strict")
        fh.seek(0)
        try:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        found = enc
        break
    fh.seek(0)
    return found


@contextmanager
def text_stream(fh: BinaryIO, encoding: str | None) -> Iterator[io.TextIOWrapper]:
    """``fh`` as text (undecodable bytes kept as surrogates when no encoding fits); ``fh`` stays open."""
    wrapper = io.TextIOWrapper(fh, encoding=encoding or "utf-8-sig",
                               errors="strict" if encoding else "surrogateescape", newline="")
    try:
        yield wrapper
    finally:
        if not fh.closed:  # a stream abandoned mid-file may outlive the file it read
            wrapper.detach()


def _has_bad_bytes(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _delimiter(sample: str) -> str:
    header = next((line for line in sample.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _header(fields: list[str]) -> list[str]:
    names: list[str] = []
    for i, raw in enumerate(fields, start=1):
        name = raw.strip() or f"column_{i}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def _record_item(spec: FilesSource, rel: str, what: str, number: int, value: Any, tracker: KeyTracker,
                 metadata: dict[str, Any]) -> Item:
    """One record (CSV row, JSON element or line) as an item, keyed by ``spec.key`` or its number."""
    where = f"{what} {number}"
    if value is None or (isinstance(value, dict | list | str) and not value) or (
            isinstance(value, dict) and is_blank_record(value)):
        return bad_item(spec.name, f"{rel}#{number}", f"{where} is empty", json.dumps(value), metadata)
    key = f"{rel}#{number}"
    if spec.key:
        if not isinstance(value, dict):
            return bad_item(spec.name, f"{rel}#{number}", f"{where} is a {type(value).__name__}, not an object "
                            f"with key field {spec.key!r}", json.dumps(value, default=str), metadata)
        natural, problem = key_value(value, spec.key)
        if problem:
            return bad_item(spec.name, f"{rel}#row-{number}", f"{where} {problem}", record_text(value), metadata)
        duplicate = tracker.check(str(natural), where)
        if duplicate:
            return bad_item(spec.name, f"{rel}#row-{number}", f"{where}: {duplicate}", record_text(value), metadata)
        key = f"{rel}#{natural}"
    if isinstance(value, dict):
        text = record_text(value)
        metadata = metadata | {"row": jsonable(value)}
    else:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        metadata = metadata | {"value": jsonable(value)}
    return sized_item(spec.name, spec.max_bytes, spec.truncate, key, text, metadata)


def iter_csv(spec: FilesSource, raw: BinaryIO, rel: str, base: dict[str, Any]) -> Iterator[Item]:
    """One item per data row; the first non-blank row is the header, the delimiter is guessed from it."""
    encoding = stream_encoding(raw, spec.encoding)
    with text_stream(raw, encoding) as fh:
        delimiter = _delimiter(fh.read(8192))
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter)
        header: list[str] | None = None
        tracker, number = KeyTracker(), 0
        base = base | {"encoding": encoding or "utf-8 (with undecodable bytes)", "delimiter": delimiter}
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                if header is None:
                    yield bad_item(spec.name, rel, f"CSV header unreadable at line {reader.line_num}: {e}", None,
                                   base)
                    return
                number += 1
                yield bad_item(spec.name, f"{rel}#{number}", f"CSV row {number} (line {reader.line_num}): {e}",
                               None, base | {"row_number": number})
                continue
            if not fields:
                continue
            if header is None:
                header = _header(fields)
                if spec.key and spec.key not in header:
                    yield bad_item(spec.name, rel, f"key field {spec.key!r} is not a CSV column "
                                   f"(columns: {', '.join(header)})", delimiter.join(fields), base)
                    return
                base = base | {"columns": header}
                continue
            number += 1
            meta = base | {"row_number": number, "line": reader.line_num}
            raw = delimiter.join(fields)
            if len(fields) != len(header):
                yield bad_item(spec.name, f"{rel}#{number}", f"CSV row {number} (line {reader.line_num}) has "
                               f"{len(fields)} fields, header has {len(header)}", raw, meta)
                continue
            bad = next((h for h, v in zip(header, fields, strict=True) if _has_bad_bytes(v)), None)
            if bad is not None:
                yield bad_item(spec.name, f"{rel}#{number}", f"CSV row {number} (line {reader.line_num}) is not "
                               f"valid UTF-8 (field {bad!r}); set the source's 'encoding'", raw, meta)
                continue
            yield _record_item(spec, rel, "CSV row", number, dict(zip(header, fields, strict=True)), tracker, meta)
        if header is None:
            yield bad_item(spec.name, rel, "empty file (no CSV header)", None, base)
        elif number == 0:
            yield bad_item(spec.name, rel, "CSV file has a header but no data rows", ",".join(header), base)


def _syntax(e: json.JSONDecodeError, line: int | None = None) -> str:
    return f"JSON syntax error at line {line or e.lineno} column {e.colno}: {e.msg}"


def iter_json(spec: FilesSource, data: bytes, rel: str, base: dict[str, Any]) -> Iterator[Item]:
    """One item per element of a top-level list (or of a dict's only list), else one item for the document."""
    try:
        text, encoding = decode_bytes(data, (spec.encoding,))
    except DecodeProblem as e:
        yield bad_item(spec.name, rel, str(e), data, base)
        return
    base = base | {"encoding": encoding}
    if not text.strip():
        yield bad_item(spec.name, rel, "empty file", text, base)
        return
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        yield bad_item(spec.name, rel, _syntax(e), text, base)
        return
    if isinstance(doc, dict) and len(doc) == 1 and isinstance(next(iter(doc.values())), list):
        field, doc = next(iter(doc.items()))
        base = base | {"records_path": field}
    if not isinstance(doc, list):
        if spec.key is None and isinstance(doc, dict) and doc and not is_blank_record(doc):
            yield sized_item(spec.name, spec.max_bytes, spec.truncate, rel, record_text(doc),
                             base | {"row": jsonable(doc)})
            return
        doc = [doc]
    if not doc:
        yield bad_item(spec.name, rel, "JSON list is empty (no records)", text, base)
        return
    tracker = KeyTracker()
    for index, value in enumerate(doc, start=1):
        yield _record_item(spec, rel, "JSON element", index, value, tracker, base | {"index": index})


def iter_jsonl(spec: FilesSource, raw: BinaryIO, rel: str, base: dict[str, Any]) -> Iterator[Item]:
    """One item per non-blank line; a line that is not JSON is quarantined with its line and column."""
    encoding = stream_encoding(raw, spec.encoding)
    base = base | {"encoding": encoding or "utf-8 (with undecodable bytes)"}
    tracker, seen = KeyTracker(), 0
    with text_stream(raw, encoding) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            seen += 1
            meta = base | {"line": lineno}
            if _has_bad_bytes(line):
                yield bad_item(spec.name, f"{rel}#{lineno}", f"line {lineno} is not valid UTF-8; set the "
                               "source's 'encoding'", line.encode("utf-8", "surrogateescape"), meta)
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                yield bad_item(spec.name, f"{rel}#{lineno}", _syntax(e, lineno), line, meta)
                continue
            yield _record_item(spec, rel, "line", lineno, value, tracker, meta)
    if not seen:
        yield bad_item(spec.name, rel, "empty file", None, base)
