"""The README documents every command-line flag, and .env.example names every variable the README names."""

from __future__ import annotations

import re
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _commands(sub, (*path, name))
    return found


def every_flag() -> dict[str, list[str]]:
    """Each long flag of the CLI -> the commands that take it (``--help`` aside)."""
    from etlcrew.cli import cli

    flags: dict[str, list[str]] = {}
    for path, command in _commands(cli):
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                for flag in (*param.opts, *param.secondary_opts):
                    if flag.startswith("--"):
                        flags.setdefault(flag, []).append(" ".join(path) or "(global)")
    return flags


def test_every_flag_is_in_the_readme() -> None:
    flags = every_flag()
    assert {"--model", "--config-dir", "--process", "--labels"} <= set(flags), "the walk found the command tree"
    missing = {flag: where for flag, where in flags.items() if not re.search(re.escape(flag) + r"(?![\w-])", README)}
    assert missing == {}, "document these flags in README.md"


NOT_VARIABLES = {"RUN_ID", "Q4_K_M"}  # upper-case words in the README that name no variable


def readme_variables() -> set[str]:
    """Environment variables the README names: upper-case words with an underscore, and ``MODEL``."""
    names = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:__?[A-Z0-9]+)+\b", README)) - NOT_VARIABLES
    return names | {"MODEL"}


def test_env_example_names_every_variable_the_readme_names() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert readme_variables() - listed == set(), "add these to .env.example"
    assert listed - readme_variables() == set(), "document these in README.md"
