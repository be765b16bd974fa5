"""A planted API key and a password in a URL never reach the console, the ledger file, the trace, the report or
its chart.

The secrets enter every way they can in practice: the provider key in the environment, a URL with a password
in ``--input``, both inside a source email (so in the prompts), echoed back by the model (so in phase outputs,
records and the digest), and echoed by a model server's 401 error, as OpenAI's own API does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from yaml_edit import edit_config

KEY = "sk-test-1234567890abcdef"
PASSWORD = "hunter2secret"
URL = f"http://admin:{PASSWORD}@db.local/prod"
LEAK = f"key {KEY} db {URL}"


def assert_clean(where: str, data: str | bytes) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    assert KEY not in text, f"the API key leaked into {where}"
    assert PASSWORD not in text, f"the URL password leaked into {where}"


def ledger_bytes(state: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(state.glob("ledger.db*")))


def run_everything(cli, *args: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """``run`` with ``args``, then every reading command in both modes; returns the run's exit code and all output."""
    code, out, err = cli("run", *args)
    output = [out, err]
    for command in (["runs"], ["runs", "--json"]):
        seen = cli(*command)
        assert seen.code == 0
        output += [seen.out, seen.err]
    run_id = json.loads(output[-2])[0]["run_id"]
    for command in (["show", run_id], ["show", run_id, "--json"], ["resume", run_id, "--json"]):
        seen = cli(*command)
        output += [seen.out, seen.err]
    return code, "\n".join(output)


def test_secrets_echoed_by_the_model_are_masked_everywhere(
        project_dir: Path, scripted, cli, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        isolated_state: Path, tmp_path: Path) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (project_dir / "data" / "inbox" / "9998-pasted-key.eml").write_text(
        "From: dev@example.com\nSubject: my setup\n\nIt fails with my key " + KEY + " against " + URL + "\n")

    def leaky(call):  # type: ignore[no-untyped-def]
        if call.response_model is None:
            return f"Thought: done\nFinal Answer: {LEAK}"
        # every free text the model writes quotes the secret (the digest too: replaced, kept masked in the ledger)
        return sample_answer(call).replace('"scripted"', json.dumps(f"Two customers pasted {LEAK[:60]} in mails"))

    model = scripted("leaky", default=leaky)
    code, output = run_everything(cli, "--model", "scripted/leaky", "--input", f"purpose=triage, see {URL}")
    assert code == 0, output
    assert any(KEY in call.prompt for call in model.history), "the secret did reach the model: the test means it"
    assert_clean("the console", output)
    stored = ledger_bytes(isolated_state)
    assert_clean("the ledger", stored)
    assert b"admin:***@db.local" in stored and b"key ***" in stored, "masked, not dropped"
    report = tmp_path / "output" / "support_inbox-report.md"
    chart = report.with_suffix(".svg")
    assert_clean("the report", report.read_text())
    assert_clean("the chart", chart.read_text())
    assert "written by code" in report.read_text(), "a digest quoting a URL names no fact: code writes the digest"
    traces = list((isolated_state / "traces").glob("*.jsonl"))
    assert traces, "the run wrote its trace"
    trace = "".join(path.read_text() for path in traces)
    assert_clean("the trace", trace)
    assert "***" in trace, "task outputs quoting the key are in the trace, masked"
    for folder in (isolated_state, tmp_path / "output"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            assert_clean(str(path.relative_to(tmp_path)), readable_bytes(path))


def readable_bytes(path: Path) -> bytes:
    """A file's bytes as a reader would see them: gzip (dlt's load packages) unpacked, a database's text pages
    after a checkpoint (``PRAGMA``/``CHECKPOINT`` are not needed: every store here is closed after the run)."""
    import gzip

    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


@pytest.fixture
def echoing_server() -> Iterator[str]:
    """A model server answering every request like OpenAI does to a bad key: 401, quoting the key it got."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}.",
                                         "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_a_key_quoted_in_a_provider_error_is_masked(
        project_dir: Path, echoing_server: str, cli,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch, isolated_state: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    edit_config(project_dir / "config" / "crews.yaml", "  batch_size: 10\n",
                "  batch_size: 10\n  retry:\n    backoff_s: 0\n    attempts: 1\n    max_consecutive_failures: 2\n")
    code, output = run_everything(cli, "--model", "openai/gpt-4o-mini", "--base-url", echoing_server,
                                  "--input", f"purpose=see {URL}")
    assert code == 1, output
    assert "Incorrect API key provided: ***" in output, "the provider's message is kept, the key masked"
    assert_clean("the console", output)
    stored = ledger_bytes(isolated_state)
    assert_clean("the ledger", stored)
    assert b"Incorrect API key provided: ***" in stored


def test_no_secret_or_raw_item_text_outlives_a_run_with_a_quarantined_item_in_the_state_folder(
        project_dir: Path, scripted, cli, isolated_state: Path) -> None:  # type: ignore[no-untyped-def]
    """An item whose model output is never valid is quarantined with its raw text (in the target, where the user
    reads it); dlt's working folders under the state folder keep no copy of it: load packages are removed once
    landed. The whole state folder is read, every file, after the run."""
    from etlcrew.model_runtime.scripted import sample_answer

    marker = "RAW-ITEM-TEXT-7f3a9c"
    (project_dir / "data" / "inbox" / "9998-pasted-key.eml").write_text(
        f"From: dev@example.com\nSubject: my setup\n\n{marker} fails with my key {KEY} against {URL}\n")
    edit_config(project_dir / "config" / "crews.yaml", "  batch_size: 10\n",
                "  batch_size: 10\n  retry:\n    backoff_s: 0\n    attempts: 1\n")

    def refuses_the_pasted_key(call):  # type: ignore[no-untyped-def]
        if call.response_model is not None and marker in call.prompt:
            return "not JSON at all"
        return sample_answer(call)

    scripted("refuses", default=refuses_the_pasted_key)
    result = cli("run", "--model", "scripted/refuses", "--json")
    assert result.code == 0, result.err
    assert result.json["items"]["quarantined"] >= 1, result.out
    assert (isolated_state / "dlt").is_dir(), "dlt's working folder is where it was"
    files = sorted(p for p in isolated_state.rglob("*") if p.is_file())
    for path in files:
        data = readable_bytes(path)
        assert_clean(str(path.relative_to(isolated_state)), data)
        if "dlt" in path.relative_to(isolated_state).parts[:1]:  # the ledger keeps it, masked, for resume
            assert marker.encode() not in data, f"the item's raw text outlived the run in {path}"
    packages = [p for p in files if "/load/loaded/" in p.as_posix() or "/load/new/" in p.as_posix()]
    assert not packages, "no load package is left in dlt's working folder"
