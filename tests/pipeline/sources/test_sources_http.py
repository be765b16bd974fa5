"""The http source against a real local server: both paginations, first-page failures, later-page quarantine."""

from __future__ import annotations

from pathlib import Path

import pytest

from etlcrew.errors import SourceError
from etlcrew.pipeline.items import Item
from etlcrew.pipeline.sources import iter_items
from etlcrew.specs.datapath import HttpSource, Pagination


def http(url: str, **kw: object) -> HttpSource:
    return HttpSource(type="http", name="api", url=url, **kw)


def items(spec: HttpSource) -> list[Item]:
    return list(iter_items(spec, Path(".")))


def test_page_pagination_until_an_empty_page(api: str) -> None:
    spec = http(f"{api}/items?lang=en", records_path="data.items", key="id", pagination=Pagination(type="page"))
    found = items(spec)
    assert [i.item_id for i in found] == [f"api:p{p}-{n}" for p in (1, 2, 3) for n in (1, 2)]
    assert found[0].text == "id: p1-1\ntitle: item 1 of page 1"
    assert found[2].metadata["page"] == 2 and found[2].metadata["url"] == f"{api}/items?lang=en&page=2"
    assert [(i.item_id, i.content_hash) for i in items(spec)] == [(i.item_id, i.content_hash) for i in found]


def test_page_pagination_respects_max_pages_and_start(api: str) -> None:
    spec = http(f"{api}/items", records_path="data.items",
                pagination=Pagination(type="page", start=2, max_pages=1))
    assert [i.item_id for i in items(spec)] == ["api:page-1#1", "api:page-1#2"]
    assert items(spec)[0].metadata["row"]["id"] == "p2-1"


def test_next_pagination_until_null(api: str) -> None:
    spec = http(f"{api}/cursor", records_path="results", key="id", pagination=Pagination(type="next"))
    found = items(spec)
    assert [i.item_id for i in found] == ["api:10", "api:20", "api:30"]
    assert found[2].metadata["url"] == f"{api}/cursor?cursor=3"


def test_no_pagination_and_unwrapped_records(api: str) -> None:
    assert [i.text for i in items(http(f"{api}/flaky"))] == ["id: 1\ntext: fine"]
    whole = items(http(f"{api}/cursor"))  # a dict of more than one key is one record when records_path is ""
    assert [i.item_id for i in whole] == ["api:page-1#1"] and whole[0].text.startswith('results: [{"id": 10')


def test_later_page_failure_is_quarantined_and_stops(api: str) -> None:
    found = items(http(f"{api}/flaky", key="id", pagination=Pagination(type="page")))
    assert [i.item_id for i in found] == ["api:1", "api:page-2"]
    reason = found[1].quarantine_reason
    assert reason == f"page 2 failed: GET {api}/flaky?page=2: HTTP 500 Internal Server Error; pagination stopped"
    bad_json = items(http(f"{api}/next-bad", records_path="results", pagination=Pagination(type="next")))
    assert bad_json[1].item_id == "api:page-2"
    assert bad_json[1].quarantine_reason.startswith(
        f"page 2 failed: GET {api}/next-bad?step=2: invalid JSON at line 1 column 1: Expecting value")


def test_next_url_on_another_host_is_not_followed(api: str) -> None:
    found = items(http(f"{api}/offsite", records_path="results", pagination=Pagination(type="next")))
    assert found[1].item_id == "api:page-2"
    assert "is on another host" in found[1].quarantine_reason


def test_bad_records_are_quarantined(api: str) -> None:
    found = {i.item_id: i for i in items(http(f"{api}/mixed", records_path="records", key="id", max_bytes=100))}
    reasons = {k: i.quarantine_reason for k, i in found.items()}
    assert reasons == {
        "api:1": None,
        "api:page-1#2": "record 2 on page 1 is a str, not an object",
        "api:page-1#3": "record 3 on page 1 is a int, not an object",
        "api:page-1#4": "record 4 on page 1 has no key field 'id'",
        "api:page-1#5": "record 5 on page 1: duplicate key '1' (first seen at record 1 on page 1)",
        "api:page-1#6": "record 6 on page 1 is an empty object",
        "api:2": "509 bytes > max_bytes 100",
    }


@pytest.mark.parametrize(("path", "message"), [
    ("/fail500", "HTTP 500 Internal Server Error"),
    ("/badjson", "invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes"),
    ("/missing", "HTTP 404 Not Found"),
    ("/items", "records_path 'nope.items' not found in the response (top level: data, page)"),
])
def test_first_page_failure_is_a_source_error(api: str, path: str, message: str) -> None:
    with pytest.raises(SourceError) as err:
        iter_items(http(f"{api}{path}", records_path="nope.items" if path == "/items" else ""), Path("."))
    assert str(err.value) == f"source 'api': GET {api}{path} failed: {message}"
    assert err.value.hint


def test_timeout_on_first_page(api: str) -> None:
    with pytest.raises(SourceError, match=r"no response within timeout_s=0.3 s") as err:
        iter_items(http(f"{api}/slow", timeout_s=0.3), Path("."))
    assert "timeout_s" in err.value.hint


def test_unreachable_host_and_bad_scheme() -> None:
    with pytest.raises(SourceError, match="cannot connect"):
        iter_items(http("http://127.0.0.1:9/x", timeout_s=2), Path("."))
    with pytest.raises(SourceError, match="is not an http"):
        iter_items(http("file:///etc/passwd"), Path("."))


def test_secrets_are_redacted_and_credentials_sent(api: str) -> None:
    host = api.removeprefix("http://")
    with pytest.raises(SourceError) as err:
        iter_items(http(f"http://alice:hunter2@{host}/fail500?token=abc123&x=1"), Path("."))
    assert "hunter2" not in str(err.value) and "abc123" not in str(err.value)
    assert f"alice:***@{host}/fail500?token=***&x=1" in str(err.value)
    assert items(http(f"http://alice:s3cret@{host}/auth"))[0].text == "id: 1\nwho: alice"
    assert "s3cret" not in repr(items(http(f"http://alice:s3cret@{host}/auth?api_key=zz")))
    assert items(http(f"{api}/header", headers={"X-Api-Key": "k1"}))[0].metadata["row"]["key"] == "k1"
