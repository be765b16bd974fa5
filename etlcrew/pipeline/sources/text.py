"""HTML and e-mail to readable text, so the model reads prose rather than markup or MIME.

html2text is imported only when HTML is met; e-mail goes through the stdlib ``email`` package.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from email.message import EmailMessage, Message
from typing import Any

from etlcrew.pipeline.sources.common import DecodeProblem, decode_bytes

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_BOUNDARY_DEFECTS = {"StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect", "NoBoundaryInMultipartDefect",
                     "MultipartInvariantViolationDefect"}


class EmailProblem(ValueError):
    """A file that cannot be read as an e-mail; the message is the quarantine reason."""


def html_to_text(markup: str) -> str:
    """Readable Markdown-ish text of an HTML page (links kept, images dropped, no hard wrapping)."""
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.unicode_snob = True
    return converter.handle(markup).strip()


def html_charset(data: bytes) -> str | None:
    """The charset a page declares in a ``<meta>`` tag near its top, if any."""
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def html_title(data: bytes | str) -> str | None:
    """The page ``<title>``, unescaped and on one line."""
    raw = data.encode("utf-8", errors="replace") if isinstance(data, str) else data
    match = _TITLE.search(raw[:65536])
    if not match:
        return None
    title = " ".join(html.unescape(match.group(1).decode("utf-8", errors="replace")).split())
    return title or None


def _header(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse is kept raw rather than failing the message
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    return " ".join(str(value).split()) if value is not None else None


def _part_text(part: Message, fallback: str) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    if not isinstance(payload, bytes):
        payload = str(payload).encode("utf-8", errors="surrogateescape")
    declared = part.get_content_charset()
    for enc in (declared, "utf-8", fallback):
        if not enc:
            continue
        try:
            return payload.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return decode_bytes(payload, ("cp1252",))[0]
    except DecodeProblem as e:
        where = f"declared charset {declared}" if declared else "no declared charset"
        raise EmailProblem(f"email body is not text ({where}): {e}") from None


def _date(msg: Message) -> str | None:
    try:
        value = msg.get("Date")
        when = getattr(value, "datetime", None)
    except Exception:  # an unparseable Date header: keep its raw text
        return _header(msg, "Date")
    return when.isoformat() if when is not None else (str(value) if value else None)


def _attachments(msg: Message, body_parts: list[Message]) -> list[str]:
    names: list[str] = []
    for part in msg.walk():
        if part.is_multipart() or any(part is b for b in body_parts):
            continue
        filename = part.get_filename()
        disposition = (part.get_content_disposition() or "").lower()
        if filename or disposition == "attachment":
            names.append(filename or f"(unnamed {part.get_content_type()})")
    return names


def parse_email(data: bytes, fallback_encoding: str = "utf-8") -> tuple[str, dict[str, Any]]:
    """Headers, plain body (or the HTML body as text) and attachment names of an RFC 822 message.

    Raises ``EmailProblem`` for a file that is not an e-mail or whose multipart structure is broken.
    """
    msg = email.message_from_bytes(data, policy=email.policy.default)
    headers = {h: _header(msg, h) for h in ("From", "To", "Cc", "Subject", "Message-ID")}
    date = _date(msg)
    if not any((headers["From"], headers["To"], headers["Subject"], date)):
        first = data.lstrip().split(b"\n", 1)[0][:60].decode("utf-8", errors="replace")
        raise EmailProblem(f"not an email: no From, To, Subject or Date header (first line: {first!r})")
    defects = [d for part in msg.walk() for d in part.defects]
    broken = [d for d in defects if type(d).__name__ in _BOUNDARY_DEFECTS]
    if broken:
        boundary = msg.get_boundary()
        raise EmailProblem(f"malformed multipart email: {type(broken[0]).__name__}"
                           + (f" (boundary {boundary!r})" if boundary else "") + f": {broken[0]}")
    assert isinstance(msg, EmailMessage)
    body_part = msg.get_body(preferencelist=("plain",))
    html_part = None if body_part is not None else msg.get_body(preferencelist=("html",))
    if body_part is not None:
        body = _part_text(body_part, fallback_encoding)
    elif html_part is not None:
        body = html_to_text(_part_text(html_part, fallback_encoding))
    else:
        body = ""
    attachments = _attachments(msg, [p for p in (body_part, html_part) if p is not None])
    if not body.strip() and not (headers["Subject"] or "").strip():
        raise EmailProblem("email has neither a subject nor body text")
    lines = [f"{name}: {headers[name]}" for name in ("From", "To", "Cc", "Subject") if headers[name]]
    if date:
        lines.append(f"Date: {date}")
    if attachments:
        lines.append(f"Attachments: {', '.join(attachments)}")
    text = "\n".join(lines) + "\n\n" + body.strip()
    metadata: dict[str, Any] = {
        "from": headers["From"], "to": headers["To"], "cc": headers["Cc"], "subject": headers["Subject"],
        "date": date, "message_id": headers["Message-ID"], "attachments": attachments,
        "body_type": "plain" if body_part is not None else "html" if html_part is not None else None,
    }
    if defects:
        metadata["defects"] = sorted({type(d).__name__ for d in defects})
    return text.strip(), {k: v for k, v in metadata.items() if v is not None}
