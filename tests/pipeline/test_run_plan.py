"""The run plan: flags over YAML resolved once, and the config hash covers a value whichever way it was set."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from etlcrew.pipeline.config_hash import relevant_config_hash
from etlcrew.pipeline.options import RunOptions
from etlcrew.specs.loader import load_project

ROOT = Path(__file__).resolve().parents[2]
CREW = "support_inbox"


def _project():  # type: ignore[no-untyped-def]
    return load_project(ROOT / "config", check_references=False)


def test_flags_win_over_yaml_and_yaml_fills_the_rest() -> None:
    spec = _project().crews[CREW]
    plan = RunOptions(crew=CREW, inputs={}, batch_size=3, max_llm_calls=7).resolved_for(spec)
    assert (plan.batch_size, plan.max_llm_calls) == (3, 7)
    assert (plan.process, plan.concurrency) == (spec.process, spec.concurrency)
    assert plan.budget().max_llm_calls == 7


def test_batch_size_changes_the_hash_whether_set_in_yaml_or_by_flag() -> None:
    project = _project()
    spec = project.crews[CREW]
    default = RunOptions(crew=CREW, inputs={}).resolved_for(spec)
    by_flag = RunOptions(crew=CREW, inputs={}, batch_size=spec.batch_size + 1).resolved_for(spec)
    same_as_yaml = RunOptions(crew=CREW, inputs={}, batch_size=spec.batch_size).resolved_for(spec)
    models = ["local/m"]
    assert relevant_config_hash(project, by_flag, models) != relevant_config_hash(project, default, models)
    assert relevant_config_hash(project, same_as_yaml, models) == relevant_config_hash(project, default, models)
    in_yaml = replace(project, crews=project.crews | {
        CREW: spec.model_copy(update={"batch_size": spec.batch_size + 1})})
    yaml_plan = RunOptions(crew=CREW, inputs={}).resolved_for(in_yaml.crews[CREW])
    assert relevant_config_hash(in_yaml, yaml_plan, models) == relevant_config_hash(project, by_flag, models)


def test_concurrency_does_not_change_the_hash() -> None:
    project = _project()
    spec = project.crews[CREW]
    one = RunOptions(crew=CREW, inputs={}, concurrency=1).resolved_for(spec)
    four = RunOptions(crew=CREW, inputs={}, concurrency=4).resolved_for(spec)
    assert relevant_config_hash(project, one, ["m"]) == relevant_config_hash(project, four, ["m"])


def test_the_earlier_key_load_interval_s_still_reads(project_dir: Path) -> None:
    from yaml_edit import edit_config

    edit_config(project_dir / "config" / "crews.yaml", "  chars_per_item: 600\n",
                "  chars_per_item: 600\n  load_interval_s: 2\n")
    spec = load_project(project_dir / "config", check_references=False).crews[CREW]
    assert spec.land_interval_s == 2
