"""Edit a test's copy of the shipped config, failing loudly when the text to change is not there (so a change
to the shipped YAML cannot turn a test into a silent no-op). Not a test module."""

from __future__ import annotations

from pathlib import Path


def edit_config(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` once in a config file of a test's project copy; fails loudly when ``old`` is not
    there, so a change to the shipped config cannot turn a test into a silent no-op."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer holds {old!r}: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


INBOX_TWO_PHASES = "  agents: [transformer, publisher]\n  tasks: [transform, load]\n"
INBOX_THREE_PHASES = "  agents: [researcher, transformer, publisher]\n  tasks: [extract, transform, load]\n"


def with_researcher(project_dir: Path) -> None:
    """Give the shipped inbox crew its researcher's extract phase back (it ships with extract done by code)."""
    edit_config(project_dir / "config" / "crews.yaml", INBOX_TWO_PHASES, INBOX_THREE_PHASES)
