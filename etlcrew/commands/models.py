"""``models`` and ``models pull``: what local models exist, which model a run would use, and fetching weights.

Listing must stay fast: it reads the catalogue and the cache markers only (no hashing, no crewai, no llama.cpp).
"""

from __future__ import annotations

from typing import Any

from etlcrew import console
from etlcrew.invocation import command
from etlcrew.settings import Settings


def _in_force(settings: Settings) -> dict[str, Any]:
    """The model a run would use without crew/agent overrides, and where that setting comes from."""
    from etlcrew.model_runtime.providers import resolve_model

    model, origin = resolve_model(None, None, None, settings.model, default=f"local/{settings.embedded_model}")
    if origin == "MODEL":
        origin = f"model setting from {settings.sources.get('model', 'environment')}"
    elif "embedded_model" in settings.sources:
        origin = f"embedded default (ETLCREW_EMBEDDED_MODEL from {settings.sources['embedded_model']})"
    return {"model": model, "source": origin, "base_url": settings.base_url,
            "cache_dir": str(settings.model_cache_dir),
            "note": "an agent's llm: or a crew's model: overrides this; --model overrides everything"}


def collect(settings: Settings) -> dict[str, Any]:
    """The catalogue with local presence, plus the setting in force, as JSON-ready data."""
    from etlcrew.model_runtime.catalogue import load_catalogue
    from etlcrew.model_runtime.weights import is_cached, weights_path

    rows = []
    for entry in load_catalogue():
        path = weights_path(entry, settings.model_cache_dir)
        present = "yes" if is_cached(entry, settings.model_cache_dir) else (
            "unverified" if path.is_file() else "no")
        rows.append({
            "name": entry.provider_name, "present": present, "size_bytes": entry.size, "licence": entry.licence,
            "default": entry.default, "opt_in": entry.opt_in, "quality": entry.quality,
            "description": entry.description, "path": str(path),
            "sources": [f"{s.package}=={s.version}" for s in entry.sources], "sha256": entry.sha256,
        })
    return {"models": rows, "in_force": _in_force(settings)}


def list_models(settings: Settings, json_mode: bool) -> int:
    """Print the local models and the model in force (table, or one JSON document)."""
    data = collect(settings)
    if json_mode:
        console.emit_json(data)
        return 0
    console.table("Local models", ["name", "present", "size", "licence", "kind", "quality"], [
        [m["name"], m["present"], f"{m['size_bytes'] / 1e6:.0f} MB", m["licence"],
         "default" if m["default"] else ("opt-in" if m["opt_in"] else ""), m["quality"]]
        for m in data["models"]])
    force = data["in_force"]
    console.info(f"Model in force: {force['model']} ({force['source']})")
    if force["base_url"]:
        console.info(f"Base URL: {force['base_url']}")
    console.info(f"Weights cache: {force['cache_dir']}")
    console.info(f"Fetch one with: {command('models', 'pull', '[NAME]')}")
    return 0


def pull(settings: Settings, name: str | None) -> int:
    """Fetch (or re-verify) one model's weights; without ``name``, the embedded default and every other model
    that is not opt-in (SmolLM2, which the fast tests use)."""
    from etlcrew.model_runtime.catalogue import find_entry, load_catalogue
    from etlcrew.model_runtime.weights import cache_status, ensure_weights, weights_path

    first = find_entry(name or settings.embedded_model)
    entries = [first] if name else [first, *(e for e in load_catalogue() if not e.opt_in and e != first)]
    for entry in entries:
        status = cache_status(entry, settings.model_cache_dir, rehash=True)
        if status == "present":
            path = weights_path(entry, settings.model_cache_dir)
            console.info(f"{entry.provider_name} is already cached and verified: {path}")
            continue
        console.info(f"{entry.name}: {entry.provenance.strip()}")
        path = ensure_weights(entry, settings.model_cache_dir)
        console.info(f"{entry.provider_name} ready: {path}")
    return 0
