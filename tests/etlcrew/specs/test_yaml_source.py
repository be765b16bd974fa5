"""The YAML reader: bounded on alias bombs, one visit per node, syntax errors at the line where they start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from etlcrew.specs.yaml_source import YamlSyntaxError, expanded_size, load_yaml_text

# Nine anchors, each a list of nine aliases of the one before: 9**9 (387 million) values once expanded.
BOMB = "\n".join(
    ['lol0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
) + "\n"

# The child may use this much address space: the old line index passed 2 GB within 40 s on this bomb.
GUARD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))
from etlcrew.cli import main
sys.exit(main(["validate"]))
"""


def test_alias_bomb_is_refused_by_validate_within_a_memory_guard(project_dir: Path) -> None:
    crews = project_dir / "config" / "crews.yaml"
    crews.write_text(crews.read_text() + "\n" + BOMB.replace("lol", "bomb_"), encoding="utf-8")
    env = {**os.environ, "ETLCREW_PROJECT_DIR": str(project_dir)}
    done = subprocess.run([sys.executable, "-c", GUARD], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # the timeout only guards the suite; it is not the assertion
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "config/crews.yaml:" in out and "aliases (*name) expand to more than 100,000 values" in out
    assert "use far fewer nested aliases" in out
    assert "Traceback" not in out and "MemoryError" not in out


def test_each_node_is_counted_once_however_often_it_is_aliased() -> None:
    import yaml

    four = yaml.compose("\n".join(BOMB.splitlines()[:4]))  # lists of 10, 91, 820 and 7381 values
    assert expanded_size(four, Path("x.yaml")) == 1 + 4 + 10 + 91 + 820 + 7381
    small = yaml.compose("a: &x [1, 2]\nb: *x\nc: *x\n")
    assert expanded_size(small, Path("x.yaml")) == 1 + 3 + 3 * 3  # the mapping, its keys, three lists of three


def test_line_index_keeps_anchor_lines_and_duplicates() -> None:
    doc = load_yaml_text("a: &x\n  k: 1\n  k: 2\nb: *x\n", Path("x.yaml"))
    assert doc.data == {"a": {"k": 2}, "b": {"k": 2}}
    assert doc.lines[("a", "k")] == 3
    assert doc.line_of(("b", "k")) == 4  # under an alias: the alias's own line
    assert doc.duplicates == [(("a", "k"), 2, 3)]  # reported once, not once per alias


def test_recursive_alias_is_a_syntax_error_not_a_recursion_error() -> None:
    with pytest.raises(YamlSyntaxError, match="refers to the block that holds it"):
        load_yaml_text("a: &x [1, *x]\n", Path("x.yaml"))


def test_unclosed_quote_is_reported_where_it_opens_with_its_key() -> None:
    text = "agent:\n  role: 'Researcher\n  goal: g\n  backstory: b\n  tools: []\n  max_iter: 3\n"
    with pytest.raises(YamlSyntaxError) as caught:
        load_yaml_text(text, Path("agents.yaml"))
    assert caught.value.line == 2
    assert "quoted value is not closed" in caught.value.problem and "key 'role'" in caught.value.problem


def test_broken_settings_file_is_a_config_error(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "config" / "settings.yaml").write_text("model: 'local/x\n", encoding="utf-8")
    code, _, err = cli("validate")
    assert code == 2
    err = " ".join(err.split())
    assert "config/settings.yaml:1: invalid YAML: a quoted value is not closed" in err and "key 'model'" in err


def test_a_valid_quote_over_two_lines_is_not_blamed_for_a_later_error() -> None:
    text = "a:\n  role: 'Research\n    lead'\n  goal: g\n   bad: indentation\n"
    with pytest.raises(YamlSyntaxError) as caught:
        load_yaml_text(text, Path("agents.yaml"))
    assert "quoted value" not in caught.value.problem and caught.value.line != 2


def test_a_long_list_without_aliases_is_read_whatever_its_length() -> None:
    text = "values:\n" + "".join(f"  - v{i}\n" for i in range(150_000))
    doc = load_yaml_text(text, Path("x.yaml"))
    assert len(doc.data["values"]) == 150_000
    with_alias = "one: &x [a, b]\ntwo: *x\n" + text  # an alias adding 3 nodes does not tip it over either
    assert len(load_yaml_text(with_alias, Path("x.yaml")).data["values"]) == 150_000


def test_validate_reads_a_plain_100000_value_enum_and_never_blames_aliases(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The file has no alias: whatever validate says, it is not about aliases."""
    from tests.yaml_edit import edit_config

    values = ", ".join(f"v{i}" for i in range(100_000))
    edit_config(project_dir / "config" / "crews.yaml", "      summary: {type: string",
                f"      code: {{type: enum, required: false, values: [{values}]}}\n      summary: {{type: string")
    code, _, err = cli("validate")
    assert "alias" not in err, err[-2000:]
    assert code == 0, err[-2000:]
