"""Per-call timeouts: the crew's retry.timeout_s, else one that suits where the model runs."""

from __future__ import annotations

from pathlib import Path

from yaml_edit import edit_config

from etlcrew.pipeline.models import HOSTED_TIMEOUT_S, LOCAL_TIMEOUT_S, ModelChooser
from etlcrew.settings import load_settings
from etlcrew.specs.loader import load_project


def chooser() -> ModelChooser:
    settings = load_settings()
    return ModelChooser(load_project(settings.config_dir), "support_inbox", settings, None, None)


def test_the_embedded_model_gets_a_longer_timeout_than_a_hosted_one(project_dir: Path, scripted) -> None:  # type: ignore[no-untyped-def]
    models = chooser()
    assert models.timeout_for("local/smollm2-135m") == LOCAL_TIMEOUT_S > HOSTED_TIMEOUT_S
    assert models.timeout_for("openai/gpt-4o-mini") == HOSTED_TIMEOUT_S


def test_the_crews_timeout_wins(project_dir: Path, scripted) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config" / "crews.yaml", "  batch_size: 10\n",
                "  batch_size: 10\n  retry:\n    timeout_s: 30\n")
    models = chooser()
    assert models.timeout_for("local/smollm2-135m") == models.timeout_for("openai/gpt-4o-mini") == 30
