"""Real-world e-mail through the files source, on real files: forwards, digests, broken boundaries, cp1252 bodies
labelled ISO-8859-1, and e-mails saved as .txt; and no quarantine reason ends in an empty ``: ``."""

from __future__ import annotations

from pathlib import Path

import pytest

from etlcrew.pipeline.items import Item, bad_item
from etlcrew.pipeline.sources import iter_items
from etlcrew.specs.datapath import FilesSource

FORWARD = b"""From: Ann <ann@example.com>
To: ops@example.com
Subject: Fwd: refund
Date: Tue, 04 Mar 2025 10:15:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUT"

--OUT
Content-Type: text/plain; charset=utf-8

See below, third time he writes.
--OUT
Content-Type: message/rfc822
Content-Disposition: attachment; filename="refund.eml"

From: Bob <bob@example.com>
To: ann@example.com
Subject: refund still missing
Date: Mon, 03 Mar 2025 09:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="IN"

--IN
Content-Type: text/plain; charset=utf-8

My refund for order 42 never arrived.
--IN
Content-Type: application/pdf
Content-Disposition: attachment; filename="invoice-42.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--IN--
--OUT--
"""

DIGEST = b"""From: list@example.com
To: ops@example.com
MIME-Version: 1.0
Content-Type: multipart/digest; boundary="D"

--D

From: a@example.com
Subject: thermostat schedule lost

The schedule resets every night.
--D

From: b@example.com
Subject: doorbell offline

Doorbell went offline after the update.
--D--
"""

OUTLOOK_EXPRESS = b"""From: "Karin" <karin@example.com>
To: <support@example.com>
Subject: hub offline
Date: Thu, 6 Mar 2025 08:00:00 +0100
MIME-Version: 1.0
X-Mailer: Microsoft Outlook Express 6.00.2900.5512
Content-Type: multipart/alternative;
\tboundary="----=_NextPart_000_0007_01C8A5D3.1F2E4B6"

This is a multi-part message in MIME format.

------=_NextPart_000_0007_01C8A5D3.1F2E4B60
Content-Type: text/plain;
\tcharset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

My hub has been offline since Monday, it cost me =8050 in spoiled food =96 again.

------=_NextPart_000_0007_01C8A5D3.1F2E4B60
Content-Type: text/html;
\tcharset="iso-8859-1"

<html><body>My hub has been offline since Monday</body></html>
------=_NextPart_000_0007_01C8A5D3.1F2E4B60--
"""

NO_BOUNDARY_AT_ALL = b"""From: a@example.com
To: b@example.com
Subject: broken
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="NEVER"

The plug smells of burning plastic, please call me.
"""

SAVED_AS_TXT = b"""Return-Path: <mei@example.org>
Received: from mx1.example.org (mx1.example.org [192.0.2.10])
\tby mail.example.com with ESMTPS id 4F2A1C0012
\tfor <support@example.com>; Fri, 7 Mar 2025 11:02:03 +0100
Received: from [10.0.0.5] by mx1.example.org; Fri, 7 Mar 2025 11:02:01 +0100
Message-ID: <abc@example.org>
Date: Fri, 7 Mar 2025 11:02:00 +0100
From: Mei Chen <mei@example.org>
To: support@example.com
Subject: wrong item in box
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

I ordered a smart plug and got a thermostat. Caf=E9 owner, need it by Monday.
"""

WEB_FORM = "From: Oskar <oskar@example.com>\nSubmitted via: example.com/contact\nOrder number: NH-1\n\nPlug smells.\n"
KEY_VALUES = "Name: Walter\nEmail: walter@example.org\nRating: 5/5\n\nGreat installer.\n"


def read(tmp_path: Path, name: str, data: bytes | str) -> Item:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
    spec = FilesSource(type="files", name="mail", path="in", patterns=[name])
    [item] = list(iter_items(spec, tmp_path))
    return item


def test_a_forwarded_message_keeps_its_headers_body_and_attachments(tmp_path: Path) -> None:
    item = read(tmp_path, "fwd.eml", FORWARD)
    assert not item.quarantined
    outer, forwarded = item.text.split("---------- Forwarded message ----------\n")
    assert "Subject: Fwd: refund" in outer and "See below, third time he writes." in outer
    assert forwarded.startswith("From: Bob <bob@example.com>\nTo: ann@example.com\nSubject: refund still missing")
    assert "Attachments: invoice-42.pdf" in forwarded and "My refund for order 42 never arrived." in forwarded
    assert item.metadata["embedded_messages"] == 1 and item.metadata["attachments"] == []


def test_a_digest_yields_every_message(tmp_path: Path) -> None:
    item = read(tmp_path, "digest.eml", DIGEST)
    assert not item.quarantined, item.quarantine_reason
    assert "---------- Digest message 1 of 2 ----------\nFrom: a@example.com\nSubject: thermostat schedule lost" \
        in item.text
    assert "The schedule resets every night." in item.text and "Doorbell went offline after the update." in item.text


def test_a_broken_boundary_is_read_with_the_boundary_the_body_uses(tmp_path: Path) -> None:
    item = read(tmp_path, "oe.eml", OUTLOOK_EXPRESS)
    assert not item.quarantined, item.quarantine_reason
    assert item.text.endswith("My hub has been offline since Monday, it cost me €50 in spoiled food – again.")
    assert "NextPart" not in item.text and item.metadata["body_type"] == "plain"
    assert item.metadata["repaired"] == "multipart boundary" and "StartBoundaryNotFoundDefect" in item.metadata[
        "defects"]


def test_a_broken_multipart_without_any_boundary_falls_back_to_its_raw_text(tmp_path: Path) -> None:
    item = read(tmp_path, "raw.eml", NO_BOUNDARY_AT_ALL)
    assert not item.quarantined
    assert item.text == ("From: a@example.com\nTo: b@example.com\nSubject: broken\n\n"
                         "The plug smells of burning plastic, please call me.")
    assert item.metadata["body_type"] == "raw"


def test_iso_8859_1_is_read_as_cp1252_like_browsers_do(tmp_path: Path) -> None:
    mail = (b"From: a@x\nSubject: price\nContent-Type: text/plain; charset=iso-8859-1\n"
            b"Content-Transfer-Encoding: quoted-printable\n\n=80 9,99 =93quoted=94 caf=E9\n")
    assert read(tmp_path, "euro.eml", mail).text.endswith("€ 9,99 “quoted” café")
    undefined = b"From: a@x\nSubject: s\nContent-Type: text/plain; charset=latin-1\n\nbyte \x81 kept\n"
    assert read(tmp_path, "c1.eml", undefined).text.endswith("byte \x81 kept")  # not in cp1252: Latin-1 it is
    page = b'<html><head><meta charset="ISO-8859-1"></head><body><p>\x80 5 per month</p></body></html>'
    assert read(tmp_path, "page.html", page).text == "€ 5 per month"


def test_an_email_saved_as_txt_is_read_as_an_email(tmp_path: Path) -> None:
    item = read(tmp_path, "0023.txt", SAVED_AS_TXT)
    assert item.text.startswith("From: Mei Chen <mei@example.org>\nTo: support@example.com\n"
                                "Subject: wrong item in box\nDate: 2025-03-07T11:02:00+01:00\n\nI ordered")
    assert "Received" not in item.text and "Café owner" in item.text
    assert item.metadata["read_as"] == "email" and item.metadata["file_type"] == "txt"


@pytest.mark.parametrize("text", [WEB_FORM, KEY_VALUES, "From: Fiona <f@example.com>\n\nPrice went up.\n",
                                  "Date: today\nTo: all\n\n"])
def test_text_that_only_looks_like_headers_stays_as_written(tmp_path: Path, text: str) -> None:
    item = read(tmp_path, "form.txt", text)
    assert not item.quarantined and item.text == text and "read_as" not in item.metadata


def test_unreadable_mail_is_quarantined_with_a_complete_reason(tmp_path: Path) -> None:
    blank = b"From: a@x\nTo: b@x\nContent-Type: multipart/mixed; boundary=NEVER\n\n   \n"
    reason = read(tmp_path, "blank.eml", blank).quarantine_reason
    assert reason == ("email has neither a subject nor body text (malformed multipart: StartBoundaryNotFoundDefect, "
                      "boundary 'NEVER')")


@pytest.mark.parametrize("reason", ["cannot read file: ", "unexpected ValueError reading .eml file:", "x:\n "])
def test_no_reason_ends_in_an_empty_colon(reason: str) -> None:
    stored = bad_item("s", "k", reason).quarantine_reason
    assert stored and not stored.endswith(":") and stored == stored.strip()
    assert bad_item("s", "k", ": ").quarantine_reason == "unreadable input"
