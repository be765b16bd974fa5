"""The one HTTP JSON client (stdlib ``urllib``): the ``http`` source, the webhook target and the HTTP tools all
send through ``send`` so timeouts, size caps, error statuses and transport failures are handled one way.

Callers keep their own policy on top: the source turns failures into ``SourceError`` or quarantined pages, the
tools pass an opener that checks redirects against the crew's scope, and the webhook retries with the shared
retry policy (``etlcrew.model_runtime.retry``).
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class HttpUnreachable(Exception):
    """No HTTP answer: connection refused, DNS, timeout; ``timed_out`` tells a timeout apart.

    A ``cause`` that is not a network error (a scope refusal raised by a redirect handler) is kept for callers."""

    def __init__(self, reason: str, timed_out: bool = False, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        self.cause = cause


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, error statuses included; ``body`` holds at most ``max_bytes + 1`` bytes."""

    status: int
    reason: str
    body: bytes
    charset: str
    too_large: bool

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` says whether the text or the JSON is wrong."""
        try:
            text = self.body.decode(self.charset, errors="strict")
        except (UnicodeDecodeError, LookupError) as e:
            raise ValueError(f"response is not valid {self.charset} text: {e}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def send(method: str, url: str, *, headers: dict[str, str] | None = None, payload: Any = None,
         timeout_s: float = 10.0, max_bytes: int = 1_000_000,
         opener: urllib.request.OpenerDirector | None = None) -> Reply:
    """One request; ``payload`` (if any) is sent as JSON. Raises ``ValueError`` for a non-http(s) URL and
    ``HttpUnreachable`` when no answer came; every HTTP status, 4xx and 5xx included, is a ``Reply``."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    body = None if payload is None else json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    sent = {"Accept": "application/json", "User-Agent": "etlcrew"} | (
        {"Content-Type": "application/json"} if body is not None else {}) | (headers or {})
    request = urllib.request.Request(url, data=body, headers=sent, method=method)  # noqa: S310 - scheme checked
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=timeout_s) as response:
            return _reply(response, response.status, response.reason, max_bytes)
    except urllib.error.HTTPError as e:
        with e:
            return _reply(e, e.code, str(e.reason), max_bytes)
    except TimeoutError:
        raise HttpUnreachable(f"no response within {timeout_s:g} s", timed_out=True) from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise HttpUnreachable(f"no response within {timeout_s:g} s", timed_out=True) from None
        cause = e.reason if isinstance(e.reason, BaseException) else None
        raise HttpUnreachable(f"cannot connect: {e.reason}", cause=cause) from None
    except (http.client.HTTPException, OSError) as e:
        raise HttpUnreachable(f"request failed: {type(e).__name__}: {e}".rstrip(": ")) from None


def _reply(response: Any, status: int, reason: str, max_bytes: int) -> Reply:
    body = response.read(max_bytes + 1) or b""
    headers = getattr(response, "headers", None)
    charset = (headers.get_content_charset() if headers is not None else None) or "utf-8"
    return Reply(int(status), reason or "", body[: max_bytes + 1], charset, len(body) > max_bytes)
