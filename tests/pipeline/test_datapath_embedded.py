"""The default crew on the real embedded model, reached as any OpenAI-compatible server (``--base-url``).

Slow (tens of seconds on 2 cores) and needs the weights (`python main.py models pull`); CI pulls them first.
Asserts what the grammar guarantees, not what a 135M model gets right: every item ends loaded or held for review
(a 135M model is rarely sure of its values) with schema-valid enums, or quarantined with a reason.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from etlcrew.settings import load_settings

pytestmark = pytest.mark.embedded
KEEP = ("0001-double-charge.eml", "0021-webform-broken-again.txt")


@pytest.fixture
def embedded_url() -> str:
    from etlcrew.model_runtime.catalogue import find_entry
    from etlcrew.model_runtime.server import start_server
    from etlcrew.model_runtime.weights import cache_status

    settings = load_settings(load_dotenv_file=False)
    entry = find_entry("smollm2-135m")
    if cache_status(entry, settings.model_cache_dir) != "present":
        pytest.skip(f"weights not cached in {settings.model_cache_dir}: run `python main.py models pull`")
    server = start_server(settings.model_cache_dir / entry.file, alias=entry.name, parallel=1)
    return server.url


def test_default_crew_on_the_embedded_model_over_http(project_dir: Path, embedded_url: str, cli,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    inbox = project_dir / "data/inbox"
    for path in inbox.iterdir():
        if path.name not in KEEP:
            path.unlink()
    assert sorted(p.name for p in inbox.iterdir()) == sorted(KEEP), "the sample data changed: update KEEP"
    result = cli("run", "--model", "openai/smollm2-135m", "--base-url", embedded_url, "--concurrency", "1", "--json")
    assert result.code == 0, result.err
    summary = result.json
    items = summary["items"]
    assert items["extracted"] == 2 and items["loaded"] + items["review"] + items["quarantined"] == 2
    assert summary["llm"]["calls"] >= 3 and summary["llm"]["prompt_tokens"] > 0
    with duckdb.connect(str(tmp_path / "output/support_inbox.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        rows = [r for t in ("tickets", "tickets__review") if t in tables
                for r in con.execute(f"SELECT item_id, category, urgency, sentiment FROM etlcrew.{t}").fetchall()]
    assert len(rows) == items["loaded"] + items["review"]
    for _, category, urgency, sentiment in rows:
        assert category in {"billing", "bug", "feature_request", "shipping", "account", "praise", "spam", "other"}
        assert urgency in {"low", "medium", "high", "urgent"} and sentiment in {"negative", "neutral", "positive"}
    shutil.rmtree(tmp_path / "output", ignore_errors=True)
