"""The ``files`` source: files under a folder, matched by glob patterns, yielded in sorted path order.

Each file type has one reader; any problem with one file (or row) becomes a quarantined item so the run
goes on, while a missing or unreadable folder fails the whole source.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from etlcrew.confine import ReadRefused, open_confined
from etlcrew.errors import SourceError
from etlcrew.pipeline.items import Item, bad_item, make_item
from etlcrew.pipeline.sources.common import DecodeProblem, declared_charsets, decode_bytes, num, sized_item
from etlcrew.pipeline.sources.rows import iter_csv, iter_json, iter_jsonl
from etlcrew.pipeline.sources.text import (
    EmailProblem,
    html_charset,
    html_title,
    html_to_text,
    looks_like_email,
    parse_email,
)
from etlcrew.specs.datapath import FilesSource

DOCUMENT_READ_LIMIT = 64 * 1024 * 1024  # .html/.eml/.json are parsed whole; larger ones are quarantined
_HEAD = 8192


def folder_of(spec: FilesSource, project_dir: Path) -> Path:
    """The source folder (relative to the project), checked to exist and be readable."""
    root = Path(spec.path).expanduser()
    root = root if root.is_absolute() else project_dir / root
    where = f"source {spec.name!r}: folder {root}"
    if not root.exists():
        raise SourceError(f"{where} does not exist",
                          hint="create it, or fix 'path' (relative paths are relative to the project directory)")
    if not root.is_dir():
        raise SourceError(f"{where} is not a folder", hint="point 'path' at the folder that holds the files")
    if not os.access(root, os.R_OK | os.X_OK):
        raise SourceError(f"{where} is not readable", hint="give this user read access to it (chmod/chown)")
    return root


def matching_files(spec: FilesSource, root: Path) -> list[Path]:
    """Entries matched by any pattern, hidden ones and folders excluded, sorted by relative path.

    Everything else is listed, so a link, fifo or device becomes a quarantined item rather than vanishing."""
    found: set[Path] = set()
    try:
        for pattern in spec.patterns:
            for path in (root.rglob(pattern) if spec.recursive else root.glob(pattern)):
                rel = path.relative_to(root)
                if not any(part.startswith(".") for part in rel.parts) and not path.is_dir():
                    found.add(path)  # links, fifos and devices too: reading them is refused with a reason
    except OSError as e:
        raise SourceError(f"source {spec.name!r}: cannot list folder {root}: {e.strerror or e}",
                          hint="check the folder's permissions") from e
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def iter_files(spec: FilesSource, project_dir: Path) -> Iterator[Item]:
    """Check the folder and encoding now, then stream items file by file."""
    try:
        codecs.lookup(spec.encoding)
    except LookupError:
        raise SourceError(f"source {spec.name!r}: unknown encoding {spec.encoding!r}",
                          hint="use a Python codec name such as utf-8, cp1252 or latin-1") from None
    root = folder_of(spec, project_dir)
    return _stream(spec, root, matching_files(spec, root))


def _stream(spec: FilesSource, root: Path, paths: list[Path]) -> Iterator[Item]:
    for path in paths:
        yield from read_file(spec, root, path, path.relative_to(root).as_posix())


def read_file(spec: FilesSource, root: Path, path: Path, rel: str) -> Iterator[Item]:
    """Items of one file, opened only through ``open_confined``; never raises for bad content (it becomes a
    quarantined item), and a refused file (a link out of the folder, a fifo) is quarantined unread."""
    ext = path.suffix.lower().lstrip(".")
    base: dict[str, Any] = {"path": rel, "file_type": ext or "text"}
    emitted = 0
    try:
        with open_confined(path, (root,), spec.path) as fh:
            for item in _dispatch(spec, fh, rel, ext, base):
                emitted += 1
                yield item
    except ReadRefused as e:
        yield bad_item(spec.name, rel, f"not read: {rel} is {e}", None, base)
    except OSError as e:
        key = f"{rel}#read-error" if emitted else rel
        yield bad_item(spec.name, key, f"cannot read file: {e.strerror or e}", None, base)
    except Exception as e:  # a parser bug must not stop the run: quarantine the rest of this file
        key = f"{rel}#read-error" if emitted else rel
        yield bad_item(spec.name, key, f"unexpected {type(e).__name__} reading .{ext} file: {e}", None, base)


def _dispatch(spec: FilesSource, fh: BinaryIO, rel: str, ext: str, base: dict[str, Any]) -> Iterator[Item]:
    size = os.fstat(fh.fileno()).st_size
    base["size_bytes"] = size
    head = fh.read(_HEAD)
    fh.seek(0)
    nul = head.find(b"\x00")
    if size == 0:
        yield bad_item(spec.name, rel, "empty file", None, base)
    elif nul >= 0 and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        yield bad_item(spec.name, rel, f"binary content: NUL byte at byte {nul}", head, base)
    elif ext == "csv":
        yield from iter_csv(spec, fh, rel, base)
    elif ext == "jsonl":
        yield from iter_jsonl(spec, fh, rel, base)
    elif ext in ("json", "html", "htm", "eml") and size > DOCUMENT_READ_LIMIT:
        yield bad_item(spec.name, rel, f"{num(size)} bytes > read limit {num(DOCUMENT_READ_LIMIT)} for "
                       f".{ext} files", head, base)
    elif ext == "json":
        yield from iter_json(spec, fh.read(), rel, base)
    elif ext in ("html", "htm"):
        yield _html(spec, fh.read(), rel, base)
    elif ext == "eml":
        yield _email(spec, fh.read(), rel, base)
    elif size <= DOCUMENT_READ_LIMIT and looks_like_email(head):
        yield _text_email(spec, fh, rel, size, base)
    else:
        yield _plain(spec, fh, rel, size, base)


def _plain(spec: FilesSource, fh: BinaryIO, rel: str, size: int, base: dict[str, Any]) -> Item:
    """Text files; an oversized one is quarantined unread, or read only up to ``max_bytes`` when truncating."""
    if size > spec.max_bytes and not spec.truncate:
        return bad_item(spec.name, rel, f"{num(size)} bytes > max_bytes {num(spec.max_bytes)}", fh.read(_HEAD), base)
    cut = size > spec.max_bytes
    data = fh.read(spec.max_bytes + 4 if cut else size)
    try:
        text, encoding = decode_bytes(data, (spec.encoding,), final=not cut)
    except DecodeProblem as e:
        return bad_item(spec.name, rel, str(e), data, base)
    if not text.strip():
        return bad_item(spec.name, rel, "empty file (only whitespace)", text, base)
    meta = base | {"encoding": encoding}
    if cut:
        text = text.encode("utf-8")[:spec.max_bytes].decode("utf-8", errors="ignore")
        return make_item(spec.name, rel, text, meta | {"truncated": True, "original_bytes": size})
    return sized_item(spec.name, spec.max_bytes, spec.truncate, rel, text, meta)


def _html(spec: FilesSource, data: bytes, rel: str, base: dict[str, Any]) -> Item:
    try:
        markup, encoding = decode_bytes(data, (*declared_charsets(html_charset(data)), spec.encoding))
    except DecodeProblem as e:
        return bad_item(spec.name, rel, str(e), data, base)
    text = html_to_text(markup)
    meta = base | {"encoding": encoding}
    title = html_title(markup)
    if title:
        meta["title"] = title
    if not text.strip():
        return bad_item(spec.name, rel, "HTML page has no visible text", markup, meta)
    return sized_item(spec.name, spec.max_bytes, spec.truncate, rel, text, meta)


def _email(spec: FilesSource, data: bytes, rel: str, base: dict[str, Any]) -> Item:
    try:
        text, meta = parse_email(data, spec.encoding)
    except EmailProblem as e:
        return bad_item(spec.name, rel, str(e), data, base)
    return sized_item(spec.name, spec.max_bytes, spec.truncate, rel, text, base | meta)


def _text_email(spec: FilesSource, fh: BinaryIO, rel: str, size: int, base: dict[str, Any]) -> Item:
    """A text file that starts with mail headers (a saved e-mail) is read as one; if it does not parse as one
    after all, it is read as plain text."""
    try:
        text, meta = parse_email(fh.read(), spec.encoding)
    except EmailProblem:
        fh.seek(0)
        return _plain(spec, fh, rel, size, base)
    return sized_item(spec.name, spec.max_bytes, spec.truncate, rel, text, base | meta | {"read_as": "email"})
