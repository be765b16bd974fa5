"""Where things live and which model serves: one resolution, in a fixed order of precedence.

defaults < ``config/settings.yaml`` < ``.env`` (python-dotenv) < environment < command-line flags.

``.env`` is loaded without overriding variables already set, which is what puts it below the environment.
The project directory is ``ETLCREW_PROJECT_DIR``, else the current directory when it holds ``config/``,
else the checkout this package lives in; everything else is found from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parent.parent

# Setting name -> environment variables consulted, first match wins. MODEL follows CrewAI's convention.
ENVIRONMENT_NAMES: dict[str, tuple[str, ...]] = {
    "config_dir": ("ETLCREW_CONFIG_DIR",),
    "state_dir": ("ETLCREW_HOME",),
    "output_dir": ("ETLCREW_OUTPUT_DIR",),
    "model_cache_dir": ("ETLCREW_MODEL_CACHE",),
    "model": ("MODEL", "ETLCREW_MODEL"),
    "base_url": ("ETLCREW_BASE_URL", "BASE_URL"),
    "embedded_model": ("ETLCREW_EMBEDDED_MODEL",),
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one command; paths are absolute."""

    project_dir: Path
    config_dir: Path
    state_dir: Path
    output_dir: Path
    model_cache_dir: Path
    model: str | None = None
    base_url: str | None = None
    embedded_model: str = "qwen2.5-coder-1.5b"  # the catalogue's default (a test keeps the two in step)
    sources: dict[str, str] = field(default_factory=dict, compare=False)


def find_project_dir() -> Path:
    """The directory holding ``config/``: explicit, current, or this checkout."""
    explicit = os.environ.get("ETLCREW_PROJECT_DIR")
    if explicit:
        return Path(explicit).resolve()
    here = Path.cwd()
    if (here / "config").is_dir():
        return here.resolve()
    return PACKAGE_ROOT


def _read_settings_file(config_dir: Path) -> dict[str, Any]:
    path = config_dir / "settings.yaml"
    if not path.is_file():
        return {}
    from etlcrew.specs.yaml_source import read_config_yaml

    data = read_config_yaml(path).data
    if data is None:
        return {}
    known = set(ENVIRONMENT_NAMES)
    if not isinstance(data, dict) or set(data) - known:
        from etlcrew.errors import ConfigError, ConfigProblem
        from etlcrew.specs.did_you_mean import suggest

        unknown = sorted(map(str, set(data) - known)) if isinstance(data, dict) else ["(not a mapping)"]
        guess = suggest(unknown[0], known)
        raise ConfigError([ConfigProblem(
            f"{config_dir.name}/settings.yaml", f"unknown setting '{unknown[0]}'",
            hint=f"did you mean '{guess}'?" if guess else f"settings are: {', '.join(sorted(known))}")])
    return data


def load_settings(load_dotenv_file: bool = True, **flags: Any) -> Settings:
    """Resolve settings from every layer; ``flags`` are the command line's values (``None`` = unset)."""
    project_dir = find_project_dir()
    if load_dotenv_file and (project_dir / ".env").is_file():
        from dotenv import load_dotenv

        load_dotenv(project_dir / ".env", override=False)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    config_dir = Path(flags.get("config_dir") or os.environ.get("ETLCREW_CONFIG_DIR") or project_dir / "config")
    for key, value in _read_settings_file(config_dir).items():
        values[key] = value
        sources[key] = "config/settings.yaml"
    for key, names in ENVIRONMENT_NAMES.items():
        for name in names:
            if os.environ.get(name):
                values[key] = os.environ[name]
                sources[key] = f"environment ({name})"
                break
    for key, value in flags.items():
        if value is not None:
            values[key] = value
            sources[key] = "flag"

    def path_of(key: str, default: Path) -> Path:
        raw = values.get(key)
        path = Path(raw) if raw else default
        return (path if path.is_absolute() else project_dir / path).resolve()

    state_dir = path_of("state_dir", project_dir / ".etlcrew")
    known = {f.name for f in fields(Settings)}
    extra = {k: v for k, v in values.items() if k in known and k not in {
        "config_dir", "state_dir", "output_dir", "model_cache_dir", "project_dir", "sources"}}
    return Settings(
        project_dir=project_dir,
        config_dir=path_of("config_dir", project_dir / "config"),
        state_dir=state_dir,
        output_dir=path_of("output_dir", project_dir / "output"),
        model_cache_dir=path_of("model_cache_dir", state_dir / "models"),
        sources=sources,
        **extra,
    )
