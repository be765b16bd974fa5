"""Confidence per enum value from token log-probabilities, and records below the crew's threshold held for
review: against a stub OpenAI-compatible server on 127.0.0.1 that returns log-probabilities."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_stub import StubOpenAI
from yaml_edit import edit_config


def tokens_of(content: str, unsure: str | None, p: float, size: int = 3) -> list[dict[str, Any]]:
    """``content`` in tokens of ``size`` characters, all sure (logprob 0) but one token spelling ``unsure``."""
    lo = content.find(unsure) if unsure else -1
    pieces = [(content, 0.0)] if lo < 0 or unsure is None else [
        (content[:lo], 0.0), (unsure, math.log(p)), (content[lo + len(unsure):], 0.0)]
    out: list[dict[str, Any]] = []
    for text, logprob in pieces:
        if logprob:
            out.append({"token": text, "logprob": logprob})
        else:
            out += [{"token": text[i:i + size], "logprob": 0.0} for i in range(0, len(text), size)]
    return out


def test_value_probabilities_multiply_the_tokens_that_spell_each_value() -> None:
    from etlcrew.model_runtime.confidence import value_probabilities

    content = json.dumps({"records": [{"item_id": "a:1", "category": "bug", "summary": "x"},
                                      {"item_id": "a:2", "category": "billing", "summary": "y"}]})
    found = value_probabilities(tokens_of(content, '"billing"', 0.5, size=4), {"category"})
    assert found == {"a:1": {"category": 1.0}, "a:2": {"category": 0.5}}
    both = value_probabilities(tokens_of(content, '"billing"', 0.5, size=4))
    assert both["a:2"] == {"category": 0.5, "summary": 1.0}, "without a filter every string value is measured"


@pytest.fixture
def unsure_server() -> Iterator[StubOpenAI]:
    server = StubOpenAI(logprobs=lambda content, value: tokens_of(content, value, 0.2))
    yield server
    server.close()


def set_min_confidence(project_dir: Path, value: float) -> None:
    edit_config(project_dir / "config" / "crews.yaml", "  review: {min_confidence: 0.5}\n",
                f"  review: {{min_confidence: {value}}}\n")


def test_records_below_min_confidence_are_held_for_review(project_dir: Path, unsure_server: StubOpenAI,  # type: ignore[no-untyped-def]
                                                          cli, isolated_state: Path) -> None:
    set_min_confidence(project_dir, 0.5)
    result = cli("run", "--model", "openai/stub", "--base-url", unsure_server.url, "--json")
    assert result.code == 0
    summary = result.json
    assert any(r.get("logprobs") for r in unsure_server.requests), "log-probabilities were asked for"
    assert summary["status"] == "partial"
    assert (summary["items"]["loaded"], summary["items"]["review"]) == (0, 30)
    show = cli("show", summary["run_id"], "--json")
    assert show.code == 0
    shown = show.json
    reasons = {r["reason"] for r in shown["review"]}
    assert reasons == {"low confidence (category 0.20 < 0.5)"}


def test_records_above_min_confidence_are_loaded(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    server = StubOpenAI(logprobs=lambda content, value: tokens_of(content, value, 0.9))
    try:
        set_min_confidence(project_dir, 0.5)
        result = cli("run", "--model", "openai/stub", "--base-url", server.url, "--json")
    finally:
        server.close()
    summary = result.json
    assert result.code == 0 and (summary["items"]["loaded"], summary["items"]["review"]) == (30, 0)


def test_an_unsure_yes_no_answer_holds_the_value_it_decides(project_dir: Path, cli,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    """Urgency is decided by checks (config/crews.yaml): its confidence is the product of the answers that gave
    it, so one unsure `false` (the first check's) puts urgency under the threshold, and nothing else."""
    server = StubOpenAI(logprobs=lambda content, value: tokens_of(content, "false", 0.3))
    try:
        set_min_confidence(project_dir, 0.5)
        result = cli("run", "--model", "openai/stub", "--base-url", server.url, "--json")
        shown = cli("show", result.json["run_id"], "--json").json
    finally:
        server.close()
    transform = next(r for r in server.requests if "security_risk" in json.dumps(r.get("response_format") or {}))
    record = json.loads(StubOpenAI.reply(transform, None)["choices"][0]["message"]["content"])["records"][0]
    answers = [(k, v) for k, v in record.items() if isinstance(v, bool)]
    assert answers[0] == ("security_risk", False), "the reply's first yes/no answer is urgency's first check"
    assert result.code == 0 and (result.json["items"]["loaded"], result.json["items"]["review"]) == (0, 30)
    assert {r["reason"] for r in shown["review"]} == {"low confidence (urgency 0.30 < 0.5)"}
    import duckdb

    with duckdb.connect(str(tmp_path / "output" / "support_inbox.duckdb"), read_only=True) as con:
        held = con.execute("SELECT DISTINCT urgency, sentiment FROM etlcrew.tickets__review").fetchall()
    assert held == [("low", "neutral")]  # no check said yes: each field's `otherwise`


def test_a_graph_review_route_keeps_the_values_probabilities_for_the_person(  # type: ignore[no-untyped-def]
        project_dir: Path, unsure_server: StubOpenAI, cli) -> None:
    """Items a ``process: graph`` route sends to review carry the model's probabilities, as sequential's do:
    the person sees which value the model was unsure of (the queue sorts by them)."""
    pytest.importorskip("langgraph", reason="the graph extra is part of .[dev]")
    edit_config(project_dir / "config" / "crews.yaml", "  process: sequential\n",
                "  process: graph\n  routes:\n    transform:\n      - {when: \"confidence < 0.5\", goto: review}\n")
    result = cli("run", "--model", "openai/stub", "--base-url", unsure_server.url, "--json")
    assert result.code == 0 and result.json["items"]["review"] == 30, result.err[-2000:]
    held = cli("review", "--list", "--json").json["held"]
    assert {h["reason"] for h in held} == {"route: confidence < 0.5"}
    assert [h["lowest_probability"] for h in held] == pytest.approx([0.2] * 30)
