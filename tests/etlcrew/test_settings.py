"""Settings precedence: defaults < config/settings.yaml < .env < environment < command-line flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etlcrew.settings import load_settings


def test_each_layer_overrides_the_one_below(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().model is None  # defaults: nothing chosen, the embedded model will serve

    (project_dir / "config/settings.yaml").write_text("model: openai/from-settings-file\n")
    assert load_settings().model == "openai/from-settings-file"

    (project_dir / ".env").write_text("MODEL=openai/from-dotenv\n")
    try:
        assert load_settings().model == "openai/from-dotenv"
    finally:
        os.environ.pop("MODEL", None)  # load_dotenv wrote it into the environment

    monkeypatch.setenv("MODEL", "openai/from-environment")
    assert load_settings().model == "openai/from-environment"

    flagged = load_settings(model="openai/from-flag")
    assert flagged.model == "openai/from-flag" and flagged.sources["model"] == "flag"


def test_paths_are_resolved_inside_the_project(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETLCREW_HOME")
    monkeypatch.delenv("ETLCREW_MODEL_CACHE")
    settings = load_settings()
    assert settings.config_dir == project_dir / "config"
    assert settings.state_dir == project_dir / ".etlcrew"
    assert settings.model_cache_dir == project_dir / ".etlcrew" / "models"


def test_unknown_setting_is_an_error(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "config/settings.yaml").write_text("modle: openai/x\n")
    code, _, err = cli("validate")
    assert code == 2
    assert "config/settings.yaml: unknown setting 'modle'" in err and "did you mean 'model'?" in err
