"""Each class of configuration mistake gives exit 2 and one message naming file, place and fix."""

from __future__ import annotations

import re
from pathlib import Path

from yaml_edit import edit_config


def test_shipped_config_is_valid(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("validate")
    assert code == 0, err
    assert "support_inbox" in out


def test_typo_key_suggests_the_right_one(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/agents.yaml", "  role: Researcher", "  rol: Researcher")
    code, _, out = cli("validate")
    assert code == 2
    assert re.search(r"config/agents\.yaml:\d+: agent 'researcher': unknown key 'rol'", out)
    assert "did you mean 'role'?" in out
    assert "Traceback" not in out


def test_unknown_agent_in_task(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/tasks.yaml", "  agent: transformer", "  agent: transfomer")
    code, _, out = cli("validate")
    assert code == 2
    assert "task 'transform': unknown agent 'transfomer'" in out and "did you mean 'transformer'?" in out


def test_unknown_tool(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/agents.yaml", "tools: [reference_lookup]", "tools: [reference_lookpu]")
    code, _, out = cli("validate")
    assert code == 2
    assert "agent 'researcher': unknown tool 'reference_lookpu'" in out and "reference_lookup" in out


def test_missing_input_lists_how_to_pass_it(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/crews.yaml", "    topic: smart thermostats and home energy savings\n", "")
    code, _, out = cli("validate")
    assert code == 2
    assert "placeholder {topic}" in out and "--input topic=VALUE" in out
    code, _, out = cli("validate", "research_brief", "--input", "topic=plugs")
    assert code == 0, out


def test_escaped_braces_are_not_placeholders(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/tasks.yaml", "Read these items.", "Read these items as {{json}}.")
    code, _, out = cli("validate")
    assert code == 0, out


def test_bad_yaml_gives_file_and_line(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/tasks.yaml", "  agent: researcher\n", "  agent: [researcher\n")
    code, _, out = cli("validate")
    assert code == 2
    assert re.search(r"config/tasks\.yaml:\d+: invalid YAML", out)


def test_wrong_type_names_entry_and_key(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/agents.yaml", "  max_iter: 3\n", "  max_iter: lots\n")
    code, _, out = cli("validate")
    assert code == 2
    assert re.search(r"config/agents\.yaml:\d+: agent 'researcher': key 'max_iter': .*integer", out)


def test_unknown_process(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/crews.yaml", "  process: sequential", "  process: parallel")
    code, _, out = cli("validate")
    assert code == 2
    assert "crew 'support_inbox': 'process' is 'parallel'" in out and "hierarchical" in out


def test_missing_file(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "config/tasks.yaml").unlink()
    code, _, out = cli("validate")
    assert code == 2
    assert "config/tasks.yaml: file is missing" in out


def test_duplicate_name(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = project_dir / "config/agents.yaml"
    path.write_text(path.read_text() + "\npublisher:\n  role: Again\n  goal: g\n  backstory: b\n")
    code, _, out = cli("validate")
    assert code == 2
    assert re.search(r"config/agents\.yaml:\d+: duplicate agent 'publisher' \(first defined at line \d+\)", out)


def test_hierarchical_without_manager(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/crews.yaml", "  manager_llm: local/smollm2-135m\n", "")
    code, _, out = cli("validate")
    assert code == 2
    assert "crew 'inbox_hierarchical': process is hierarchical but there is no manager" in out
    assert "manager_llm" in out


def test_unknown_crew_suggests(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, out = cli("validate", "suport_inbox")
    assert code == 2
    assert "no crew named 'suport_inbox'" in out and "did you mean 'support_inbox'?" in out


def test_unknown_context_task(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/tasks.yaml", "context: [brief_extract]", "context: [brief_extrac]")
    code, _, out = cli("validate")
    assert code == 2
    assert "task 'brief_transform': unknown context 'brief_extrac'" in out and "did you mean 'brief_extract'?" in out


def test_nested_source_key_typo(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/crews.yaml", '      patterns: ["*.eml", "*.txt"]', '      pattern: ["*.eml"]')
    code, _, out = cli("validate")
    assert code == 2
    assert re.search(r"config/crews\.yaml:\d+: crew 'support_inbox': unknown key 'sources.0.pattern'", out)
    assert "did you mean 'patterns'?" in out


def test_retry_and_budget_key_typos_suggest(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/crews.yaml", "  batch_size: 10\n",
         "  batch_size: 10\n  retry:\n    atempts: 3\n  budget:\n    max_llm_call: 5\n")
    code, _, out = cli("validate", "support_inbox")
    assert code == 2
    assert "unknown key 'retry.atempts' (did you mean 'attempts'?)" in out
    assert "unknown key 'budget.max_llm_call' (did you mean 'max_llm_calls'?)" in out


def test_malformed_price_names_the_file_and_model(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "config/prices.yaml").write_text("openai/gpt-4o: cheap\n")
    code, _, out = cli("validate")
    assert code == 2
    assert "config/prices.yaml: price of 'openai/gpt-4o' must be [prompt, completion]" in out


def test_json_mode_reports_problems_as_data(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config/agents.yaml", "  goal: Turn", "  gaol: Turn")
    result = cli("validate", "--json")
    assert result.code == 2
    data = result.json
    assert data["valid"] is False
    keys = {p.get("key") for p in data["problems"]}
    assert "gaol" in keys and "goal" in keys  # the unknown key and the now-missing required one


def test_debug_shows_traceback(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "config/crews.yaml").unlink()
    code, _, err = cli("--debug", "validate")
    assert code == 2
    assert "Traceback" in err
