"""``run --dry-run``: the plan before spending, with no model call, no ledger row and no CrewAI import; its count
of calls is the real run's on the shipped crews (scripted model in place of the LLM only; sources, DuckDB and the
ledger are real)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from yaml_edit import edit_config

ROOT = Path(__file__).resolve().parents[2]
def real_calls_by_phase(cli, run_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    shown = cli("show", run_id, "--json").json
    return {phase["phase"]: phase["calls"] for phase in shown["phases"]}


def test_a_dry_run_reads_the_sources_and_touches_nothing(project_dir: Path, isolated_state: Path) -> None:
    """In a fresh process: no ledger file appears, CrewAI is not imported, nothing goes to stdout but the JSON."""
    code = ("import sys; from etlcrew.cli import main; rc = main(['run', '--dry-run', '--json']); "
            "assert not [m for m in sys.modules if m.startswith('crewai')], 'crewai imported'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["crew"] == "support_inbox" and plan["items"] == {
        "new": 30, "changed": 0, "unchanged": 0, "unreadable": 0, "to_process": 30}
    assert plan["batches"] == 3 and plan["calls"] == {"transform": 30, "load": 1, "total": 31}
    assert plan["prompt_tokens"] > 30 * 500 and plan["completion_tokens"] > 0 and plan["tokens_from"] == "prompt"
    assert plan["seconds_from"] == "catalogue" and plan["seconds"] > 0, "the embedded default: its s/item figure"
    assert plan["cost_usd"] == 0.0
    assert not isolated_state.exists() or not (isolated_state / "ledger.db").exists(), "no ledger was created"


def test_the_plan_follows_the_flags_and_prices(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", "--dry-run", "--json", "--batch-size", "4", "--model", "openai/gpt-4o-mini")
    assert result.code == 0, result.err
    plan = result.json
    assert plan["batches"] == 8 and plan["calls"] == {"transform": 30, "load": 1, "total": 31}
    assert plan["model"] == "openai/gpt-4o-mini" and plan["seconds"] is None and plan["cost_usd"] > 0
    text = cli("run", "--dry-run", "--model", "openai/gpt-4o-mini")
    assert text.code == 0
    assert "30 new, 0 changed, 0 unchanged (skipped), 0 unreadable: 30 to process in 3 batches" in text.out
    assert "model calls: 31 (transform 30, load 1)" in text.out
    hierarchical = cli("run", "inbox_hierarchical", "--dry-run", "--json").json
    assert hierarchical["exact"] is False, "a manager's calls come on top"


def test_a_model_with_no_price_plans_an_unknown_cost_not_zero(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", "--dry-run", "--json", "--model", "anthropic/claude-opus-4-5")
    assert result.code == 0, result.err
    assert result.json["cost_usd"] is None and result.json["calls"]["total"] == 31
    text = cli("run", "--dry-run", "--model", "openai/my-model")
    assert text.code == 0, text.err
    assert "cost: unknown: openai/my-model has no price" in text.out and "prices.yaml" in text.out


def test_after_a_run_the_plan_skips_what_is_unchanged_and_uses_its_figures(  # type: ignore[no-untyped-def]
        project_dir: Path, scripted, cli) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    scripted("plan", default=sample_answer)
    first = cli("run", "--model", "scripted/plan", "--json")
    assert first.code == 0, first.err
    edited = project_dir / "data" / "inbox" / "0021-webform-broken-again.txt"
    edited.write_text(edited.read_text() + "\nPS: it happened again today.\n")
    plan = cli("run", "--dry-run", "--json", "--model", "scripted/plan").json
    assert plan["items"] == {"new": 0, "changed": 1, "unchanged": 29, "unreadable": 0, "to_process": 1}
    assert plan["calls"] == {"transform": 1, "load": 1, "total": 2} and plan["tokens_from"] == "past runs"
    assert plan["seconds_from"] == "past runs"
    shown = cli("show", first.json["run_id"], "--json").json
    assert shown["plan"]["calls"]["transform"] == real_calls_by_phase(cli, first.json["run_id"])["transform"]
    text = cli("show", first.json["run_id"]).out
    assert f"estimate / actual: calls 31 / {first.json['llm']['calls']}, prompt tokens ~" in " ".join(text.split())


@pytest.mark.parametrize("crew", ["support_inbox", "orders_enrichment", "research_brief"])
def test_the_plan_counts_the_extract_and_transform_calls_of_the_real_run(  # type: ignore[no-untyped-def]
        project_dir: Path, scripted, cli, crew: str) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    if crew == "orders_enrichment":
        subprocess.run([sys.executable, str(project_dir / "data/make_shop_db.py"), "--path",
                        str(project_dir / "data/shop.sqlite")], check=True, capture_output=True)
    scripted("plan", default=sample_answer)
    plan = cli("run", crew, "--dry-run", "--json", "--model", "scripted/plan").json
    real = cli("run", crew, "--model", "scripted/plan", "--json")
    assert real.code == 0, real.err
    actual = real_calls_by_phase(cli, real.json["run_id"])
    for phase in ("extract", "transform"):
        assert plan["calls"].get(phase, 0) == actual.get(phase, 0), phase
    assert plan["calls"]["load"] == 1


@pytest.mark.parametrize("crew", ["support_inbox", "orders_enrichment", "research_brief"])
def test_the_plan_counts_every_call_of_the_real_run(  # type: ignore[no-untyped-def]
        project_dir: Path, scripted, cli, crew: str) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    if crew == "orders_enrichment":
        subprocess.run([sys.executable, str(project_dir / "data/make_shop_db.py"), "--path",
                        str(project_dir / "data/shop.sqlite")], check=True, capture_output=True)
    scripted("plan", default=sample_answer)
    plan = cli("run", crew, "--dry-run", "--json", "--model", "scripted/plan").json
    real = cli("run", crew, "--model", "scripted/plan", "--json")
    assert real.code == 0, real.err
    assert plan["calls"]["total"] == real.json["llm"]["calls"]


def test_the_plan_equals_the_real_run_for_a_crew_without_a_publisher(  # type: ignore[no-untyped-def]
        project_dir: Path, scripted, cli) -> None:
    from etlcrew.model_runtime.scripted import sample_answer

    crews = project_dir / "config" / "crews.yaml"
    edit_config(crews, "  agents: [transformer, publisher]\n  tasks: [transform, load]\n",
                "  agents: [transformer]\n  tasks: [transform]\n")
    edit_config(crews, "  items_per_call: 1 ", "  items_per_call: 3 ")
    scripted("plan", default=sample_answer)
    plan = cli("run", "--dry-run", "--json", "--model", "scripted/plan", "--batch-size", "7").json
    real = cli("run", "--model", "scripted/plan", "--batch-size", "7", "--json")
    assert real.code == 0, real.err
    assert plan["calls"] == {"transform": 13, "total": 13} == {"transform": real.json["llm"]["calls"],
                                                               "total": real.json["llm"]["calls"]}
