"""The files source on real files: every file type, ordering, determinism and bad input with its reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from etlcrew.errors import SourceError
from etlcrew.pipeline.items import Item
from etlcrew.pipeline.sources import iter_items
from etlcrew.specs.datapath import FilesSource

PLAIN_EMAIL = b"""From: Ann <ann@example.com>
To: ops@example.com
Subject: Printer on fire
Date: Tue, 04 Mar 2025 10:15:00 +0100
Message-ID: <1@example.com>
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 printer is burning.

--=20
Ann
"""

HTML_EMAIL = b"""From: bot@example.com
To: ops@example.com
Subject: Weekly report
Date: Wed, 05 Mar 2025 09:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XYZ"

--XYZ
Content-Type: text/html; charset=utf-8

<html><body><h1>Report</h1><p>All <b>green</b>.</p></body></html>
--XYZ
Content-Type: application/pdf
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--XYZ--
"""

BROKEN_MULTIPART = b"""From: a@example.com
To: b@example.com
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="NEVER"

\t
"""


def spec(path: str = "in", **kw: object) -> FilesSource:
    return FilesSource(type="files", name="docs", path=path, **kw)


def items(project: Path, **kw: object) -> list[Item]:
    return list(iter_items(spec(**kw), project))


def by_id(found: list[Item]) -> dict[str, Item]:
    return {i.item_id: i for i in found}


def write(root: Path, rel: str, data: str | bytes) -> Path:
    path = root / "in" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    write(tmp_path, "b.txt", "plain text\nsecond line\n")
    write(tmp_path, "a.md", "# Title\n\nSome *markdown*.")
    write(tmp_path, "page.html", "<html><head><title>Hello &amp; bye</title></head><body><h1>Head</h1>"
                                 "<p>Para with <a href='http://x.test/'>a link</a>.</p><script>var x;</script>"
                                 "<img src='i.png'></body></html>")
    write(tmp_path, "mail.eml", PLAIN_EMAIL)
    write(tmp_path, "report.eml", HTML_EMAIL)
    write(tmp_path, "people.csv", "id,name,city\n1,Ann,Oslo\n2,Bob,\"Rome, IT\"\n")
    write(tmp_path, "semi.csv", "\ufeffid;name\n7;Zoë\n")
    write(tmp_path, "list.json", json.dumps([{"id": "x", "n": 1}, {"id": "y", "n": [1, 2]}]))
    write(tmp_path, "wrapped.json", json.dumps({"records": [{"id": 1}, {"id": 2}, {"id": 3}]}))
    write(tmp_path, "one.json", json.dumps({"name": "single", "tags": ["a"]}))
    write(tmp_path, "lines.jsonl", '{"id": 1, "msg": "one"}\n\n{"id": 2, "msg": "two"}\n')
    write(tmp_path, "bom.txt", "\ufeffwith bom".encode())
    write(tmp_path, "utf16.txt", "wide text".encode("utf-16"))
    write(tmp_path, "notes.log", "a log line")
    write(tmp_path, ".hidden.txt", "skip me")
    write(tmp_path, "sub/deep.txt", "deep")
    return tmp_path


def test_every_file_type_is_read(good: Path) -> None:
    found = by_id(items(good))
    assert not [i for i in found.values() if i.quarantined]
    assert found["docs:b.txt"].text == "plain text\nsecond line\n"
    assert found["docs:a.md"].metadata["file_type"] == "md"
    page = found["docs:page.html"]
    assert "# Head" in page.text and "[a link](http://x.test/)" in page.text and "var x" not in page.text
    assert "<" not in page.text and page.metadata["title"] == "Hello & bye"
    mail = found["docs:mail.eml"]
    assert mail.metadata["from"] == "Ann <ann@example.com>" and mail.metadata["subject"] == "Printer on fire"
    assert mail.metadata["to"] == "ops@example.com" and mail.metadata["date"] == "2025-03-04T10:15:00+01:00"
    assert "Café printer is burning." in mail.text and mail.text.startswith("From: Ann")
    report = found["docs:report.eml"]
    assert report.metadata["attachments"] == ["report.pdf"] and report.metadata["body_type"] == "html"
    assert "All **green**." in report.text and "Attachments: report.pdf" in report.text
    row = found["docs:people.csv#2"]
    assert row.text == "id: 2\nname: Bob\ncity: Rome, IT"
    assert row.metadata["row"] == {"id": "2", "name": "Bob", "city": "Rome, IT"} and row.metadata["row_number"] == 2
    assert found["docs:semi.csv#1"].metadata["row"] == {"id": "7", "name": "Zoë"}
    assert found["docs:list.json#2"].text == 'id: y\nn: [1, 2]'
    assert [k for k in found if k.startswith("docs:wrapped.json")] == [f"docs:wrapped.json#{n}" for n in (1, 2, 3)]
    assert found["docs:one.json"].text == 'name: single\ntags: ["a"]'
    assert found["docs:lines.jsonl#3"].metadata["row"] == {"id": 2, "msg": "two"}
    assert found["docs:bom.txt"].text == "with bom"
    assert found["docs:utf16.txt"].text == "wide text"
    assert found["docs:notes.log"].text == "a log line"
    assert "docs:.hidden.txt" not in found and "docs:sub/deep.txt" not in found


def test_order_is_sorted_and_two_passes_are_identical(good: Path) -> None:
    first, second = items(good), items(good)
    assert [(i.item_id, i.content_hash) for i in first] == [(i.item_id, i.content_hash) for i in second]
    paths = [i.metadata["path"] for i in first]
    assert paths == sorted(paths)
    assert len({i.item_id for i in first}) == len(first)


def test_patterns_recursive_and_key(good: Path) -> None:
    found = [i.item_id for i in items(good, patterns=["*.txt"], recursive=True)]
    assert found == ["docs:b.txt", "docs:bom.txt", "docs:sub/deep.txt", "docs:utf16.txt"]
    keyed = [i.item_id for i in items(good, patterns=["people.csv", "lines.jsonl"], key="id")]
    assert keyed == ["docs:lines.jsonl#1", "docs:lines.jsonl#2", "docs:people.csv#1", "docs:people.csv#2"]


def test_items_are_streamed(tmp_path: Path) -> None:
    write(tmp_path, "big.csv", "n\n" + "".join(f"{n}\n" for n in range(1, 5001)))
    stream = iter_items(spec(), tmp_path)
    assert next(stream).item_id == "docs:big.csv#1"
    assert sum(1 for _ in stream) == 4999


def test_fallback_encoding(tmp_path: Path) -> None:
    write(tmp_path, "latin.txt", "Café crème".encode("cp1252"))
    write(tmp_path, "latin.csv", "name\nZoë\n".encode("cp1252"))
    found = by_id(items(tmp_path, encoding="cp1252"))
    assert found["docs:latin.txt"].text == "Café crème" and found["docs:latin.txt"].metadata["encoding"] == "cp1252"
    assert found["docs:latin.csv#1"].text == "name: Zoë"


def test_html_charset_declared_in_meta(tmp_path: Path) -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Déjà vu</p></body></html>'
    write(tmp_path, "old.html", page.encode("cp1252"))
    assert items(tmp_path)[0].text == "Déjà vu"


def test_truncate_records_it(tmp_path: Path) -> None:
    write(tmp_path, "long.txt", "é" * 30)
    item = items(tmp_path, max_bytes=11, truncate=True)[0]
    assert not item.quarantined and item.text == "é" * 5
    assert item.metadata["truncated"] is True and item.metadata["original_bytes"] == 60


BAD_CASES: list[tuple[str, bytes, dict[str, object], str, str]] = [
    ("latin.txt", b"abc\xe9def", {}, "docs:latin.txt",
     "not valid UTF-8 at byte 3 (0xe9); set the source's 'encoding' if the files use another one"),
    ("blob.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, "docs:blob.bin", "binary content: NUL byte at byte 8"),
    ("empty.txt", b"", {}, "docs:empty.txt", "empty file"),
    ("blank.md", b"  \n\t\n", {}, "docs:blank.md", "empty file (only whitespace)"),
    ("huge.txt", b"x" * 12345, {"max_bytes": 10000}, "docs:huge.txt", "12 345 bytes > max_bytes 10 000"),
    ("cols.csv", b"a,b,c\n1,2,3\n1,2,3,4,5\n", {}, "docs:cols.csv#2", "CSV row 2 (line 3) has 5 fields, header has 3"),
    ("gaps.csv", b"a,b\n1,2\n,\n", {}, "docs:gaps.csv#2", "CSV row 2 is empty"),
    ("head.csv", b"a,b,c\n", {}, "docs:head.csv", "CSV file has a header but no data rows"),
    ("mixed.csv", b"a,b\n1,ok\n2,caf\xe9\n", {}, "docs:mixed.csv#2",
     "CSV row 2 (line 3) is not valid UTF-8 (field 'b'); set the source's 'encoding'"),
    ("bad.json", b'[\n  {"a": 1},\n    {"b" 2}\n]', {}, "docs:bad.json",
     "JSON syntax error at line 3 column 10: Expecting ':' delimiter"),
    ("none.json", b"[]", {}, "docs:none.json", "JSON list is empty (no records)"),
    ("nulls.json", b'[{"a": null, "b": ""}, {"a": 1}]', {}, "docs:nulls.json#1", "JSON element 1 is empty"),
    ("lines.jsonl", b'{"a": 1}\n{"a": 2,}\n', {}, "docs:lines.jsonl#2",
     "JSON syntax error at line 2 column "),  # the column and wording are Python's (3.13 points at the comma)
    ("enc.jsonl", b'{"a": 1}\n{"a": "\xff"}\n', {}, "docs:enc.jsonl#2",
     "line 2 is not valid UTF-8; set the source's 'encoding'"),
    ("note.eml", b"just some words\nno headers here\n", {}, "docs:note.eml",
     "not an email: no From, To, Subject or Date header (first line: 'just some words')"),
    ("broken.eml", BROKEN_MULTIPART, {}, "docs:broken.eml",
     "email has neither a subject nor body text (malformed multipart: StartBoundaryNotFoundDefect, boundary "
     "'NEVER')"),
    ("empty.html", b"<html><body><script>x()</script></body></html>", {}, "docs:empty.html",
     "HTML page has no visible text"),
    ("wide.csv", b"a\n" + b"y" * 50 + b"\n", {"max_bytes": 40}, "docs:wide.csv#1", "53 bytes > max_bytes 40"),
]


@pytest.mark.parametrize(("name", "data", "options", "item_id", "reason"), BAD_CASES,
                         ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_quarantined_with_its_reason(tmp_path: Path, name: str, data: bytes,
                                                  options: dict[str, object], item_id: str, reason: str) -> None:
    write(tmp_path, name, data)
    write(tmp_path, "zz-good.txt", "still read after the bad one")
    found = by_id(items(tmp_path, **options))
    bad = found[item_id]
    assert bad.quarantined and bad.quarantine_reason.startswith(reason), bad.quarantine_reason
    assert not bad.quarantine_reason.endswith(":")
    assert bad.text == "" and bad.metadata["path"] == name
    assert not found["docs:zz-good.txt"].quarantined


def test_bad_rows_do_not_stop_good_rows(tmp_path: Path) -> None:
    write(tmp_path, "t.csv", b"id,v\n1,a\n1,b\n,c\n2,d,extra\n3,e\n")
    found = by_id(items(tmp_path, key="id"))
    assert found["docs:t.csv#row-2"].quarantine_reason == "CSV row 2: duplicate key '1' (first seen at CSV row 1)"
    assert found["docs:t.csv#row-3"].quarantine_reason == "CSV row 3 has an empty key field 'id'"
    assert found["docs:t.csv#4"].quarantine_reason == "CSV row 4 (line 5) has 3 fields, header has 2"
    assert [k for k, i in found.items() if not i.quarantined] == ["docs:t.csv#1", "docs:t.csv#3"]


def test_key_problems_in_json_sources(tmp_path: Path) -> None:
    write(tmp_path, "a.jsonl", b'{"id": 1}\n{"name": "x"}\n"text"\n')
    write(tmp_path, "b.csv", b"name\nx\n")
    found = by_id(items(tmp_path, key="id"))
    assert found["docs:a.jsonl#row-2"].quarantine_reason == "line 2 has no key field 'id'"
    assert found["docs:a.jsonl#3"].quarantine_reason == "line 3 is a str, not an object with key field 'id'"
    assert found["docs:b.csv"].quarantine_reason == "key field 'id' is not a CSV column (columns: name)"


def test_missing_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        iter_items(spec("nowhere"), tmp_path)
    assert str(tmp_path / "nowhere") in str(err.value) and "does not exist" in str(err.value)
    assert "create it" in err.value.hint
    (tmp_path / "file").write_text("x")
    with pytest.raises(SourceError, match="is not a folder"):
        iter_items(spec("file"), tmp_path)
    with pytest.raises(SourceError, match="unknown encoding 'nope'"):
        iter_items(spec("in", encoding="nope"), tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any folder")
def test_unreadable_folder_is_a_source_error(tmp_path: Path) -> None:
    locked = tmp_path / "in"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(SourceError, match="is not readable"):
            iter_items(spec(), tmp_path)
    finally:
        locked.chmod(0o755)


def test_empty_folder_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    assert items(tmp_path) == []
