"""The ``http`` source: records of a JSON API, page by page, through the one HTTP client (``etlcrew.http_json``).

A failure on the first page fails the source (the API is not usable); a failure on a later page is
quarantined as ``page-N`` and pagination stops, so records already read are kept. URLs in every message
are redacted.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

from etlcrew.errors import SourceError
from etlcrew.http_json import HttpUnreachable, send
from etlcrew.pipeline.items import Item, bad_item
from etlcrew.pipeline.sources.common import KeyTracker, jsonable, key_value, num, record_text, sized_item
from etlcrew.redact import redact_url
from etlcrew.specs.datapath import HttpSource
from etlcrew.specs.env_refs import with_env

MAX_PAGE_BYTES = 64 * 1024 * 1024


class PageProblem(Exception):
    """One page could not be fetched or understood; ``hint`` says what the user can do."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.hint = hint


def _split_auth(url: str) -> tuple[str, dict[str, str]]:
    """The URL without ``user:password@`` and the Basic auth header it stood for."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    header = {"Authorization": "Basic " + base64.b64encode(token).decode("ascii")}
    return urlunsplit(parts._replace(netloc=netloc)), header


def fetch_json(url: str, headers: dict[str, str], timeout_s: float) -> Any:
    """GET ``url`` and parse its JSON body; raises ``PageProblem`` with a reason fit for a message."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise PageProblem("not an http(s) URL", "use an http:// or https:// URL of a JSON API")
    clean, auth = _split_auth(url)
    try:
        reply = send("GET", clean, headers=headers | auth, timeout_s=timeout_s, max_bytes=MAX_PAGE_BYTES)
    except HttpUnreachable as e:
        if e.timed_out:
            raise PageProblem(f"no response within timeout_s={timeout_s:g} s",
                              "raise 'timeout_s' or retry later") from None
        raise PageProblem(str(e), "check 'url' and the network") from None
    except ValueError as e:  # a URL urllib cannot use (no host, bad port)
        raise PageProblem(f"request failed: {e}", "check 'url' and the network") from None
    if not reply.ok:
        hint = {401: "check the credentials in 'headers'", 403: "check the credentials in 'headers'",
                404: "check 'url'", 429: "the API is rate limiting: retry later"}.get(
            reply.status, "the server failed: retry later" if reply.status >= 500 else "check 'url' and 'headers'")
        raise PageProblem(f"HTTP {reply.status} {reply.reason}", hint)
    if reply.too_large:
        raise PageProblem(f"response larger than {num(MAX_PAGE_BYTES)} bytes", "page the API in smaller pages")
    try:
        return reply.json()
    except ValueError as e:
        raise PageProblem(str(e), "the URL must return JSON (is it an HTML page or an error page?)") from None


def dotted(doc: Any, path: str) -> tuple[bool, Any]:
    """``(True, value)`` at a dotted path (list indexes allowed), or ``(False, None)`` when it is missing."""
    value = doc
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def page_records(doc: Any, records_path: str) -> list[Any]:
    """The records of one response: the list at ``records_path`` (a dict with one list is unwrapped)."""
    found, value = dotted(doc, records_path)
    if not found:
        keys = ", ".join(map(str, doc)) if isinstance(doc, dict) else type(doc).__name__
        raise PageProblem(f"records_path {records_path!r} not found in the response (top level: {keys})",
                          "set 'records_path' to the dotted path of the list of records")
    if value is None:
        return []
    if isinstance(value, dict) and not records_path and len(value) == 1 and isinstance(
            next(iter(value.values())), list):
        value = next(iter(value.values()))
    return value if isinstance(value, list) else [value]


def with_param(url: str, param: str, value: int) -> str:
    """``url`` with query parameter ``param`` set to ``value`` (other parameters kept in order)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    return urlunsplit(parts._replace(query=urlencode([*query, (param, str(value))])))


def iter_http(spec: HttpSource) -> Iterator[Item]:
    """Fetch and check the first page now (a failure is a ``SourceError``); stream the rest when iterated."""
    scheme = urlsplit(spec.url).scheme.lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"source {spec.name!r}: {redact_url(spec.url)} is not an http(s) URL",
                          hint="use an http:// or https:// URL of a JSON API")
    pagination = spec.pagination
    url = with_param(spec.url, pagination.param, pagination.start) if pagination and pagination.type == "page" \
        else spec.url
    try:
        doc = fetch_json(url, with_env(spec.headers), spec.timeout_s)
        records = page_records(doc, spec.records_path)
    except PageProblem as e:
        raise SourceError(f"source {spec.name!r}: GET {redact_url(url)} failed: {e}", hint=e.hint) from None
    return _pages(spec, url, doc, records)


def _next_url(spec: HttpSource, number: int, url: str, doc: Any) -> str | None:
    pagination = spec.pagination
    if pagination is None or number >= pagination.max_pages:
        return None
    if pagination.type == "page":
        return with_param(spec.url, pagination.param, pagination.start + number)
    found, value = dotted(doc, pagination.next_path)
    return urljoin(url, value) if found and isinstance(value, str) and value.strip() else None


def _pages(spec: HttpSource, url: str, doc: Any, records: list[Any]) -> Iterator[Item]:
    tracker, number, seen = KeyTracker(), 1, {url}
    origin = urlsplit(url).netloc
    while True:
        for index, record in enumerate(records, start=1):
            yield _record_item(spec, number, index, record, redact_url(url), tracker)
        if not records and spec.pagination and spec.pagination.type == "page":
            return
        next_url = _next_url(spec, number, url, doc)
        if next_url is None or next_url in seen:
            return
        number += 1
        meta = {"url": redact_url(next_url), "page": number}
        if urlsplit(next_url).netloc != origin:
            yield bad_item(spec.name, f"page-{number}", f"page {number}: next URL {redact_url(next_url)} is on another "
                           f"host than {origin}; pagination stopped (headers are not sent elsewhere)", None, meta)
            return
        seen.add(next_url)
        try:
            doc = fetch_json(next_url, with_env(spec.headers), spec.timeout_s)
            records = page_records(doc, spec.records_path)
        except PageProblem as e:
            yield bad_item(spec.name, f"page-{number}", f"page {number} failed: GET {redact_url(next_url)}: {e}; "
                           "pagination stopped", None, meta)
            return
        url = next_url


def _record_item(spec: HttpSource, page: int, index: int, record: Any, url: str, tracker: KeyTracker) -> Item:
    where = f"record {index} on page {page}"
    key = f"page-{page}#{index}"
    meta: dict[str, Any] = {"url": url, "page": page, "index": index}
    if not isinstance(record, dict):
        return bad_item(spec.name, key, f"{where} is a {type(record).__name__}, not an object",
                        json.dumps(record, default=str), meta)
    meta["row"] = jsonable(record)
    if not record:
        return bad_item(spec.name, key, f"{where} is an empty object", "{}", meta)
    if spec.key:
        natural, problem = key_value(record, spec.key)
        if problem:
            return bad_item(spec.name, key, f"{where} {problem}", record_text(record), meta)
        duplicate = tracker.check(str(natural), where)
        if duplicate:
            return bad_item(spec.name, key, f"{where}: {duplicate}", record_text(record), meta)
        key = str(natural)
    return sized_item(spec.name, spec.max_bytes, spec.truncate, key, record_text(record), meta)
