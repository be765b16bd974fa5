"""HTTP for tools, through the one client (``etlcrew.http_json``): GET JSON from declared hosts, POST JSON to
declared webhooks.

Every URL, including each redirect's target, goes through the scope's host check, so a declared host cannot
bounce a tool to an undeclared one; POSTs follow no redirect at all. Responses are size-capped and time-limited.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from etlcrew.tools.scope import ToolScope, ToolScopeError, host_key

from etlcrew.http_json import HttpUnreachable, Reply, send

MAX_RESPONSE_BYTES = 1_000_000
MAX_REDIRECTS = 3


class _ScopedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a declared host (and at most ``MAX_REDIRECTS`` times)."""

    max_redirections = MAX_REDIRECTS

    def __init__(self, scope: ToolScope) -> None:
        self.scope = scope

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        try:
            self.scope.check_host(newurl)
        except ToolScopeError as exc:
            raise ToolScopeError(f"{req.full_url} redirected to {newurl}, which is refused: {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def get_json(url: str, scope: ToolScope, timeout_s: float = 10.0, max_bytes: int = MAX_RESPONSE_BYTES) -> Any:
    """The parsed JSON body of ``GET url``; ``url`` and any redirect must reach declared hosts only."""
    scope.check_host(url)
    reply = _send("GET", url, urllib.request.build_opener(_ScopedRedirects(scope)), timeout_s, max_bytes)
    if not reply.ok:
        raise RuntimeError(f"GET {url} answered HTTP {reply.status} {reply.reason}")
    try:
        return reply.json()
    except ValueError as exc:
        raise RuntimeError(f"GET {url} did not return JSON ({exc})") from None


def post_json(url: str, payload: Any, key: str, timeout_s: float = 10.0) -> int:
    """``POST url`` with the JSON payload and an ``Idempotency-Key``; the HTTP status (redirects not followed)."""
    host_key(url)  # http(s) only; the caller has checked the URL against the scope
    opener = urllib.request.build_opener(_NoRedirects())
    return _send("POST", url, opener, timeout_s, MAX_RESPONSE_BYTES, payload, {"Idempotency-Key": key}).status


def _send(method: str, url: str, opener: urllib.request.OpenerDirector, timeout_s: float, max_bytes: int,
          payload: Any = None, headers: dict[str, str] | None = None) -> Reply:
    """``http_json.send`` with the tools' wording: refusals stay ``ToolScopeError``, failures ``RuntimeError``."""
    try:
        reply = send(method, url, headers=headers, payload=payload, timeout_s=timeout_s, max_bytes=max_bytes,
                     opener=opener)
    except HttpUnreachable as exc:
        if isinstance(exc.cause, ToolScopeError):
            raise exc.cause from None
        if exc.timed_out:
            raise RuntimeError(f"{method} {url} timed out after {timeout_s:g} s") from None
        raise RuntimeError(f"{method} {url} failed: {str(exc).removeprefix('cannot connect: ')}") from None
    if reply.too_large:
        raise ToolScopeError(f"the response of {url} is over the {max_bytes:,} bytes a tool may read")
    return reply
