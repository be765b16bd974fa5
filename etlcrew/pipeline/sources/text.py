"""HTML and e-mail to readable text, so the model reads prose rather than markup or MIME.

html2text is imported only when HTML is met; e-mail goes through the stdlib ``email`` package. Real mail is
messy: forwards and digests carry whole messages (kept, with their headers), mailers break multipart boundaries
(re-read with the boundary the body uses, else as raw text), and ISO-8859-1 labels hide cp1252 text.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Iterator
from email.message import EmailMessage, Message
from itertools import pairwise
from typing import Any

from etlcrew.pipeline.sources.common import DecodeProblem, declared_charsets, decode_bytes

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_BOUNDARY_DEFECTS = {"StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect", "NoBoundaryInMultipartDefect",
                     "MultipartInvariantViolationDefect"}
_HEADERS = ("From", "To", "Cc", "Subject", "Message-ID")
_EMBEDDED = ("message/rfc822", "message/global")
_MAX_DEPTH = 3  # forwards of forwards: deeper ones are named, not expanded
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_BOUNDARY_LINE = re.compile(rb"--([!#-~]{1,70}?)(?:--)?")
_PART_HEADER = re.compile(rb"content-[a-z-]+:", re.IGNORECASE)
_BOUNDARY_PARAM = re.compile(rb'boundary\s*=\s*(?:"[^"\r\n]*"?|[^;\s]*)', re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"^(content-type:[^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_FIELD = re.compile(rb"([!-9;-~]+):")  # an RFC 5322 field name: printable, no space or colon
_MAIL_HEADERS = {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"received", b"return-path",
                 b"mime-version", b"delivered-to", b"reply-to", b"content-type", b"in-reply-to", b"references",
                 b"x-mailer", b"user-agent", b"sender"}
_MAIL_ONLY = _MAIL_HEADERS - {b"from", b"to", b"cc", b"subject", b"reply-to", b"sender"}


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


def _decode_body(payload: bytes, declared: str | None, fallback: str) -> str:
    for enc in (*declared_charsets(declared), "utf-8", fallback):
        try:
            return payload.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return decode_bytes(payload, ("cp1252",))[0]
    except DecodeProblem as e:
        where = f"declared charset {declared}" if declared else "no declared charset"
        raise EmailProblem(f"email body is not text ({where}): {e}") from None


def _part_text(part: Message, fallback: str) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    if not isinstance(payload, bytes):
        payload = str(payload).encode("utf-8", errors="surrogateescape")
    return _decode_body(payload, part.get_content_charset(), fallback)


def _date(msg: Message) -> str | None:
    try:
        value = msg.get("Date")
        when = getattr(value, "datetime", None)
    except Exception:  # an unparseable Date header: keep its raw text
        return _header(msg, "Date")
    return when.isoformat() if when is not None else (str(value) if value else None)


def _walk(part: Message, parent: str = "") -> Iterator[tuple[Message, str]]:
    """Leaf parts and embedded messages with their parent's type, in order; an embedded message (a forward, a
    digest entry) is yielded whole, not entered, so its parts stay its own."""
    if part.get_content_type() in _EMBEDDED:
        yield part, parent
    elif part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            yield from _walk(sub, part.get_content_type())
    else:
        yield part, parent


def _attachments(msg: Message, body_parts: list[Message]) -> list[str]:
    names: list[str] = []
    for part, _parent in _walk(msg):
        if part.get_content_type() in _EMBEDDED or any(part is b for b in body_parts):
            continue
        filename = part.get_filename()
        disposition = (part.get_content_disposition() or "").lower()
        if filename or disposition == "attachment":
            names.append(filename or f"(unnamed {part.get_content_type()})")
    return names


def _embedded(msg: Message, fallback: str, depth: int) -> list[str]:
    """Forwarded messages and digest entries as text blocks: their headers and body, so nothing is lost."""
    parts = [(p, parent) for p, parent in _walk(msg) if p.get_content_type() in _EMBEDDED]
    blocks: list[str] = []
    for number, (part, parent) in enumerate(parts, start=1):
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, EmailMessage):
            continue
        label = f"Digest message {number} of {len(parts)}" if parent == "multipart/digest" else "Forwarded message"
        if depth >= _MAX_DEPTH:
            blocks.append(f"---------- {label} (nested too deep, not shown) ----------")
            continue
        blocks.append(f"---------- {label} ----------\n{_render(inner, fallback, depth + 1)[0]}")
    return blocks


def _body(msg: Message, fallback: str) -> tuple[str, str | None, list[Message]]:
    """The plain body, else the HTML body as text: ``(text, body_type, parts used)``."""
    assert isinstance(msg, EmailMessage)
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        return _part_text(plain, fallback), "plain", [plain]
    markup = msg.get_body(preferencelist=("html",))
    if markup is not None:
        return html_to_text(_part_text(markup, fallback)), "html", [markup]
    return "", None, []


def _render(msg: Message, fallback: str, depth: int, raw_body: str | None = None) -> tuple[str, dict[str, Any]]:
    """Header lines, body and embedded messages of one message as text, with its metadata."""
    headers = {h: _header(msg, h) for h in _HEADERS}
    date = _date(msg)
    if raw_body is None:
        body, body_type, used = _body(msg, fallback)
    else:
        body, body_type, used = raw_body, "raw", []
    attachments = _attachments(msg, used)
    blocks = _embedded(msg, fallback, depth)
    lines = [f"{name}: {headers[name]}" for name in ("From", "To", "Cc", "Subject") if headers[name]]
    if date:
        lines.append(f"Date: {date}")
    if attachments:
        lines.append(f"Attachments: {', '.join(attachments)}")
    text = "\n".join(lines) + "\n\n" + "\n\n".join(b for b in (body.strip(), *blocks) if b)
    metadata: dict[str, Any] = {
        "from": headers["From"], "to": headers["To"], "cc": headers["Cc"], "subject": headers["Subject"],
        "date": date, "message_id": headers["Message-ID"], "attachments": attachments, "body_type": body_type,
        "embedded_messages": len(blocks) or None, "has_body": bool(body.strip() or blocks),
    }
    return text.strip(), metadata


def _used_boundary(body: bytes) -> bytes | None:
    """The boundary a broken multipart body really uses: a ``--token`` line followed by a part header."""
    lines = body.splitlines()
    for line, after in pairwise(lines):
        match = _BOUNDARY_LINE.fullmatch(line.rstrip())
        if match and _PART_HEADER.match(after):
            return match.group(1)
    return None


def _repaired(data: bytes) -> Message | None:
    """The message re-read with the boundary its body uses (mailers such as Outlook Express break the header)."""
    blank = _BLANK_LINE.search(data)
    if blank is None:
        return None
    head, sep, body = data[:blank.start()], blank.group(), data[blank.end():]
    boundary = _used_boundary(body)
    if boundary is None:
        return None
    value = b'boundary="' + boundary + b'"'
    if _BOUNDARY_PARAM.search(head):
        head = _BOUNDARY_PARAM.sub(lambda _m: value, head, count=1)
    else:
        head = _CONTENT_TYPE.sub(lambda m: m.group(1) + b"; " + value, head, count=1)
    msg = email.message_from_bytes(head + sep + body, policy=email.policy.default)
    return None if _broken(msg) else msg


def _broken(msg: Message) -> list[str]:
    return [type(d).__name__ for part in msg.walk() for d in part.defects if type(d).__name__ in _BOUNDARY_DEFECTS]


def _raw_body(data: bytes, msg: Message, fallback: str) -> str:
    """The text after the headers, as written: a broken multipart mail is still worth reading."""
    blank = _BLANK_LINE.search(data)
    body = data[blank.end():] if blank else b""
    try:
        return decode_bytes(body, (*declared_charsets(msg.get_param("charset")), fallback, "cp1252"))[0]
    except DecodeProblem as e:
        raise EmailProblem(f"malformed multipart email ({', '.join(_broken(msg))}) and its body is not text: "
                           f"{e}") from None


def parse_email(data: bytes, fallback_encoding: str = "utf-8") -> tuple[str, dict[str, Any]]:
    """Headers, body (plain, else HTML as text), forwarded and digest messages, and attachment names.

    A multipart mail with a broken boundary is re-read with the boundary its body uses, else as raw text.
    Raises ``EmailProblem`` for a file that is not an e-mail or holds no readable text.
    """
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if not any(_header(msg, h) for h in ("From", "To", "Subject")) and not _date(msg):
        first = data.lstrip().split(b"\n", 1)[0][:60].decode("utf-8", errors="replace")
        raise EmailProblem(f"not an email: no From, To, Subject or Date header (first line: {first!r})")
    defects = sorted({type(d).__name__ for part in msg.walk() for d in part.defects})
    text, meta = _render(msg, fallback_encoding, 0)
    broken = _broken(msg)
    if broken and not meta["has_body"]:
        repaired = _repaired(data)
        if repaired is not None:
            text, meta = _render(repaired, fallback_encoding, 0)
            meta["repaired"] = "multipart boundary"
        if not meta["has_body"]:
            text, meta = _render(msg, fallback_encoding, 0, raw_body=_raw_body(data, msg, fallback_encoding))
    if not meta.pop("has_body") and not (meta["subject"] or "").strip():
        where = f" (malformed multipart: {broken[0]}, boundary {msg.get_boundary()!r})" if broken else ""
        raise EmailProblem(f"email has neither a subject nor body text{where}")
    if defects:
        meta["defects"] = defects
    return text, {k: v for k, v in meta.items() if v is not None}


def looks_like_email(head: bytes) -> bool:
    """Whether a file (whatever its extension) starts with RFC 822 headers: every line of its first block is a
    header, two or more are e-mail headers and one only mail carries (``Received``, ``Message-ID``, ``Date``...).

    Web-form exports (``Name:``, ``Order number:``) and notes with a ``From:`` line do not qualify."""
    lines = head.lstrip(b"\r\n").splitlines()
    if lines and lines[0].startswith(b"From "):  # an mbox separator line
        lines = lines[1:]
    names: set[bytes] = set()
    for line in lines:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and names:
            continue
        match = _FIELD.match(line)
        if not match:
            return False
        names.add(match.group(1).lower())
    known = names & _MAIL_HEADERS
    return len(known) >= 2 and bool(known & _MAIL_ONLY)
