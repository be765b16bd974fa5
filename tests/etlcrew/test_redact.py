"""``etlcrew.redact``: every secret shape is masked, ordinary text is left alone, JSON stays JSON."""

from __future__ import annotations

import json

import pytest

from etlcrew import console
from etlcrew.redact import redact, redact_obj

KEY = "sk-test-1234567890abcdef"


@pytest.mark.parametrize(("text", "expected"), [
    (f"key {KEY} here", "key sk-*** here"),
    ("sk-ant-api03-abcdefghijklmnop", "sk-ant-***"),
    ("sk-proj-AbCdEf0123456789", "sk-***"),
    ("http://user:hunter2secret@127.0.0.1:9/v1", "http://user:***@127.0.0.1:9/v1"),
    ("postgresql://admin:p@ss:word@db.local/prod", "postgresql://admin:***@db.local/prod"),
    ("Authorization: Bearer abcdefghijkl.mnop", "Authorization: Bearer ***"),
    ("https://api.x.com/v1?api_key=XYZ123&page=2&token=abc", "https://api.x.com/v1?api_key=***&page=2&token=***"),
    ("ghp_abcdefghijklmnopqrstuvwxyz012345", "ghp_***"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_***"),
    ("aws AKIAIOSFODNN7EXAMPLE key", "aws AKIA*** key"),
    ("xoxb-1234567890-abcdefghij", "xoxb-***"),
    ('{"password": "s3cret!!", "user": "bob"}', '{"password": "***", "user": "bob"}'),
    ("{'Authorization': 'Basic dXNlcjpwYXNz'}", "{'Authorization': '***'}"),
])
def test_secret_shapes_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "primary_key=item_id", "http://127.0.0.1:8080/v1", "the task-runner has a token budget", "risk-assessment",
    "Basic authentication is enabled", "postgresql://db.local/prod", "", "ask-me-anything later",
    "batch 3: 10 items, 30 loaded",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_values_of_secret_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_PASSWORD", 'pa"ss\\word-123')
    monkeypatch.setenv("INTERNAL_TOKEN", "plainlookingvalue42")
    monkeypatch.setenv("SHORT_KEY", "abc")  # under 8 characters: too likely to be an ordinary word
    monkeypatch.setenv("HOME_DIR", "plainlookingvalue43")  # not a secret-looking name
    text = 'a plainlookingvalue42 b pa"ss\\word-123 c abc d plainlookingvalue43'
    assert redact(text) == "a *** b *** c abc d plainlookingvalue43"
    as_json = json.dumps({"p": 'pa"ss\\word-123'})
    assert redact(as_json) == '{"p": "***"}', "the JSON-escaped form is masked too"
    monkeypatch.setenv("INTERNAL_TOKEN", "changedvalue4242")
    assert redact("changedvalue4242") == "***", "a changed environment is seen at once"


def test_redacted_json_stays_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    value = {"url": "http://u:pw'x@h/", "api_key": KEY, "list": [f"Bearer {KEY}", "?token=a&b=1"],
             "nested": {"password": "hunter2secret", "note": 'say "sk-ant-abcdefghijkl"'}}
    text = redact(json.dumps(value))
    parsed = json.loads(text)
    assert KEY not in text and "hunter2secret" not in text and "sk-ant-abcdefghijkl" not in text
    assert parsed["list"][1] == "?token=***&b=1"


def test_redact_obj_walks_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    value = {"a": [KEY, ("x", f"http://u:{KEY}@h")], KEY: 3, "n": None, "f": 1.5}
    assert redact_obj(value) == {"a": ["***", ("x", "http://u:***@h")], "***": 3, "n": None, "f": 1.5}


def test_console_redacts_every_channel(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    console.configure()
    console.info(f"info {KEY}")
    console.warn("warn http://bob:hunter2secret@host/")
    console.error(f"error {KEY}", hint=f"hint {KEY}")
    console.out(f"out {KEY}")
    console.emit_json({"k": KEY, "u": "http://bob:hunter2secret@host/"})
    console.table("t", ["a"], [[KEY]])
    captured = capsys.readouterr()
    for stream in (captured.out, captured.err):
        assert KEY not in stream and "hunter2secret" not in stream
    assert "***" in captured.err and "bob:***@host" in captured.err
    assert '"k": "***"' in captured.out and '"u": "http://bob:***@host/"' in captured.out
