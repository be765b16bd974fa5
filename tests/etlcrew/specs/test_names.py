"""The storable-name rule agrees with dlt's own snake_case naming, and suggestions are storable and free."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from etlcrew.specs.names import PRODUCT_COLUMNS, STORABLE, _stored_as, identifier_for

ALPHABET = "abcxyzXYZ019_-+ üé@|*😀."


def _samples() -> list[str]:
    rng = random.Random(13)  # fixed: the same names on every run
    names = ["kundenname_ü", "😀", "Tickets", "a__b", "ab_", "1ab", "_dlt_id", "customer", "CamelCase", "_", "_x"]
    names += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    return [n for n in names if n.strip() == n and n]


def test_storable_is_exactly_what_dlt_leaves_unchanged() -> None:
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    dlt_name = NamingConvention().normalize_identifier
    for name in _samples():
        assert bool(STORABLE.match(name)) == (dlt_name(name) == name), name
        assert _stored_as(name) == NamingConvention().normalize_table_identifier(name), name


@pytest.mark.parametrize(("name", "taken", "expected"), [
    ("kundenname_ü", set(), "kundenname_u"), ("😀", set(), "field"), ("CustomerName", set(), "customer_name"),
    ("1st", set(), "field_1st"), ("review_reason", set(), "review_reason_2"), ("a b", {"a_b"}, "a_b_2"),
])
def test_suggestions_are_storable_and_free(name: str, taken: set[str], expected: str) -> None:
    suggested = identifier_for(name, taken)
    assert suggested == expected
    assert STORABLE.match(suggested) and suggested not in taken and suggested not in PRODUCT_COLUMNS


KEYWORD_FIELDS = ("      summary: {type: string, max: 100, description: one line in English}\n"
                  "      requested_action: {type: string, required: false, max: 60}\n")


def test_sql_keywords_are_fine_field_names(project_dir: Path, scripted, tmp_path: Path,  # type: ignore[no-untyped-def]
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """dlt quotes every identifier, so ``order``, ``select``, ``from`` and ``group`` load into DuckDB and SQLite as
    written, the ``sql_query`` tool reads them back when the query quotes them (as SQL wants), and a webhook's
    ``when`` can test them."""
    import duckdb
    from etlcrew.tools.scope import ToolScope, use_scope
    from etlcrew.tools.sql_query import SqlQueryTool

    from etlcrew.cli import main
    from etlcrew.model_runtime.scripted import sample_answer
    from etlcrew.pipeline.targets import parse_condition
    from tests.yaml_edit import edit_config

    crews = project_dir / "config" / "crews.yaml"
    edit_config(crews, KEYWORD_FIELDS, "      order: {type: string, max: 100}\n      select: {type: string}\n"
                                       "      from: {type: string, required: false}\n      group: {type: integer}\n")
    edit_config(crews, "    - type: duckdb\n    - type: report\n", "    - type: duckdb\n    - type: sqlite\n"
                                                                 "    - type: report\n")
    scripted("keywords", default=sample_answer)
    assert main(["validate"]) == 0
    assert "is valid" in capsys.readouterr().out
    code = main(["run", "--model", "scripted/keywords", "--json"])
    seen = capsys.readouterr()
    assert code == 0, seen.err
    loaded = json.loads(seen.out)["items"]["loaded"]
    output = tmp_path / "output"
    with duckdb.connect(str(output / "support_inbox.duckdb"), read_only=True) as con:
        duck = con.sql('select "order", "select", "from", "group" from etlcrew.tickets order by "order"').fetchall()
    assert len(duck) == loaded > 0 and all(row[0].startswith("scripted") for row in duck)

    url = f"sqlite:///{output / 'support_inbox.sqlite'}"
    with use_scope(ToolScope(read_roots=(), sql_urls=(url,), write_roots=(), base_dir=tmp_path)):
        answer = SqlQueryTool().run(query='SELECT "order", "select", "from", "group" FROM tickets ORDER BY "order"',
                                    max_rows=200)
    rows = json.loads(answer.split(">\n", 1)[1].rsplit("\n</", 1)[0])["rows"]
    assert [tuple(row.values()) for row in rows] == duck, "SQLite holds what DuckDB holds, under the same names"

    matches = parse_condition("order != 'x' and group in [0, 1] and not from == null", ["order", "group", "from"])
    assert matches({"order": "a", "group": 1, "from": "b"}) and not matches({"order": "a", "group": 2, "from": "b"})


@pytest.mark.parametrize(("dataset", "stored"), [("x; DROP TABLE y; --", "x_drop_table_yxxx"),
                                                 ("Tickets-Prod", "tickets_prod")])
def test_a_dataset_the_store_would_rename_is_refused_with_the_name_it_would_get(
        project_dir: Path, cli, isolated_state: Path, tmp_path: Path, dataset: str, stored: str) -> None:  # type: ignore[no-untyped-def]
    """dlt would load the tables into schema ``stored``, silently; validate and run say so before any work."""
    from tests.yaml_edit import edit_config

    edit_config(project_dir / "config" / "crews.yaml", "  targets:\n    - type: duckdb\n    - type: report\n",
                f"  targets:\n    - type: duckdb\n      dataset: {json.dumps(dataset)}\n    - type: report\n")
    for args in (("validate",), ("run", "--model", "scripted/sample")):
        code, _, err = cli(*args)
        said = " ".join(err.split())
        assert code == 2, (args, err)
        assert f"crew 'support_inbox': dataset '{dataset}' would be stored as '{stored}', not as written" in said
        assert "config/crews.yaml:" in said and "use '" in said, said
    result = cli("validate", "--json")
    assert result.code == 2
    (problem,) = result.json["problems"]
    assert problem["key"] == "targets.0.dataset" and problem["entry"] == "support_inbox" and problem["line"]
    assert not (tmp_path / "output" / "support_inbox.duckdb").exists(), "nothing was loaded under another name"


def test_a_table_the_store_would_rename_says_what_it_would_become(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from tests.yaml_edit import edit_config

    edit_config(project_dir / "config" / "crews.yaml", "    table: tickets\n", "    table: Tickets-Prod\n")
    code, _, err = cli("validate")
    assert code == 2
    assert "table name 'Tickets-Prod' would be stored as 'tickets_prod'" in " ".join(err.split())
