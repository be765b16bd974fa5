"""HTTP for tools, stdlib ``urllib`` only: GET JSON from declared hosts, POST JSON to declared webhooks.

Every URL, including each redirect's target, goes through the scope's host check, so a declared host cannot
bounce a tool to an undeclared one; POSTs follow no redirect at all. Responses are size-capped and time-limited.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from etlcrew.tools.scope import ToolScope, ToolScopeError, host_key

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


def _read_capped(response: Any, limit: int, url: str) -> bytes:
    body = response.read(limit + 1)
    if len(body) > limit:
        raise ToolScopeError(f"the response of {url} is over the {limit:,} bytes a tool may read")
    return body


def get_json(url: str, scope: ToolScope, timeout_s: float = 10.0, max_bytes: int = MAX_RESPONSE_BYTES) -> Any:
    """The parsed JSON body of ``GET url``; ``url`` and any redirect must reach declared hosts only."""
    scope.check_host(url)
    opener = urllib.request.build_opener(_ScopedRedirects(scope))
    request = urllib.request.Request(url, headers={"Accept": "application/json"},  # noqa: S310 - host checked
                                     method="GET")
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = _read_capped(response, max_bytes, url)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"GET {url} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ToolScopeError):
            raise exc.reason from None
        raise RuntimeError(f"GET {url} failed: {exc.reason}") from None
    except TimeoutError:
        raise RuntimeError(f"GET {url} timed out after {timeout_s:g} s") from None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise RuntimeError(f"GET {url} did not return JSON ({exc})") from None


def post_json(url: str, payload: Any, key: str, timeout_s: float = 10.0) -> int:
    """``POST url`` with the JSON payload and an ``Idempotency-Key``; the HTTP status (redirects not followed)."""
    host_key(url)  # http(s) only; the caller has checked the URL against the scope
    body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    opener = urllib.request.build_opener(_NoRedirects())
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked
    try:
        with opener.open(request, timeout=timeout_s) as response:
            _read_capped(response, MAX_RESPONSE_BYTES, url)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError as exc:
        raise RuntimeError(f"POST {url} failed: {exc.reason}") from None
    except TimeoutError:
        raise RuntimeError(f"POST {url} timed out after {timeout_s:g} s") from None
