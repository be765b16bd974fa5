"""Every test gets its own state and output directories; the model weights cache is shared (read-only use).

``project_dir`` gives a writable copy of the shipped project (config, tools, data) for tests that edit YAML.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_MODEL_CACHE = Path(os.environ.get("ETLCREW_MODEL_CACHE") or ROOT / ".etlcrew" / "models")
# pytest-xdist's workers inherit COLUMNS=80 from execnet; piped output is 160 columns wide unless a test sets
# COLUMNS itself (the messages tests look for would wrap at 80), in this process and in the CLI children it starts
os.environ.pop("COLUMNS", None)


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """State and outputs in a temp dir; no MODEL or provider keys leak in from the developer's shell."""
    state = tmp_path / "state"
    monkeypatch.setenv("ETLCREW_HOME", str(state))
    monkeypatch.setenv("ETLCREW_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("ETLCREW_MODEL_CACHE", str(SHARED_MODEL_CACHE))
    for name in ("MODEL", "ETLCREW_MODEL", "BASE_URL", "ETLCREW_BASE_URL", "ETLCREW_PROJECT_DIR",
                 "ETLCREW_CONFIG_DIR", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENAI_BASE_URL",
                 "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    from etlcrew import console

    console.configure()
    return state


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the shipped project, selected through ETLCREW_PROJECT_DIR."""
    target = tmp_path / "project"
    shutil.copytree(ROOT / "config", target / "config")
    shutil.copytree(ROOT / "data", target / "data", ignore=shutil.ignore_patterns("*.sqlite"))
    (target / "tools").mkdir()
    monkeypatch.setenv("ETLCREW_PROJECT_DIR", str(target))
    return target


@pytest.fixture
def scripted(isolated_state: Path):  # type: ignore[no-untyped-def]
    """A factory: ``scripted("name", default=...)`` registers a ScriptedLLM for ``--model scripted/name``.

    The scripted model stands in for the LLM only; stores, files and servers stay real.
    """
    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(isolated_state)
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, unregister_scripted

    made: list[str] = []

    def make(name: str, **kwargs):  # type: ignore[no-untyped-def]
        llm = ScriptedLLM(**kwargs)
        register_scripted(name, llm)
        made.append(name)
        return llm

    yield make
    for name in made:
        unregister_scripted(name)



class CliResult(NamedTuple):
    """One in-process run of the real entry point: exit code and what it printed (unpacks as a tuple)."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        """Stdout as the one JSON value ``--json`` promises (``json.loads`` fails when anything else is there)."""
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``cli("run", "--json")``: the CLI as a user types it, through ``main``, with its output captured."""
    from etlcrew.cli import main

    def run(*args: str) -> CliResult:
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
