"""HTML and e-mail conversion, decoding fallbacks, redaction, and that heavy libraries load only when needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from etlcrew.pipeline.sources.common import DecodeProblem, decode_bytes
from etlcrew.pipeline.sources.text import EmailProblem, html_to_text, parse_email
from etlcrew.redact import redact_url


def test_decode_order_and_reasons() -> None:
    assert decode_bytes(b"\xef\xbb\xbfhi") == ("hi", "utf-8")
    assert decode_bytes("é".encode("cp1252"), ("cp1252",)) == ("é", "cp1252")
    with pytest.raises(DecodeProblem, match=r"not valid UTF-8 at byte 2 \(0x81\) nor utf-16-le"):
        decode_bytes(b"ab\x81", ("utf-16-le",))
    assert decode_bytes(b"caf\xc3", final=False) == ("caf", "utf-8")


def test_email_declared_charset_and_fallbacks() -> None:
    latin = b"From: a@x\nSubject: s\nContent-Type: text/plain; charset=iso-8859-1\n\nd\xe9j\xe0\n"
    assert parse_email(latin)[0].endswith("déjà")
    unknown = b"From: a@x\nSubject: s\nContent-Type: text/plain; charset=x-klingon\n\nplain ascii\n"
    assert parse_email(unknown)[0].endswith("plain ascii")
    lying = b"From: a@x\nSubject: s\nContent-Type: text/plain; charset=utf-8\n\nd\xe9j\xe0\n"
    assert parse_email(lying, "cp1252")[0].endswith("déjà")
    subject_only = parse_email(b"From: a@x\nSubject: only a subject\n\n")
    assert subject_only[1]["subject"] == "only a subject" and "attachments" in subject_only[1]
    with pytest.raises(EmailProblem, match="neither a subject nor body text"):
        parse_email(b"From: a@x\nTo: b@x\n\n   \n")


def test_html_to_text_keeps_structure() -> None:
    text = html_to_text("<ul><li>one</li><li>two &amp; three</li></ul><table><tr><td>a</td><td>b</td></tr></table>")
    assert "* one" in text and "two & three" in text and "a| b" in text


def test_redact_hides_every_secret_form() -> None:
    assert redact_url("GET https://u:pw@h/p?a=1&token=t0k&API_KEY=k#x") == "GET https://u:***@h/p?a=1&token=***&API_KEY=***#x"
    assert redact_url("https://ghp_abc@github.com/x") == "https://***@github.com/x"


def test_sources_import_light() -> None:
    code = ("import sys, etlcrew.pipeline.sources, etlcrew.pipeline.sources.files, etlcrew.pipeline.sources.http; "
            "print(sorted(m for m in ('sqlalchemy', 'html2text') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout
    assert out.strip() == "[]"
