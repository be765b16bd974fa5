"""Reading a labels CSV: keys by item id or file name, and every mistake reported with its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etlcrew.errors import ConfigError, ConfigProblem
from etlcrew.evaluation.labels import MAX_PROBLEMS, LabelSet, read_labels
from etlcrew.specs.datapath import SchemaSpec

ROOT = Path(__file__).resolve().parents[2]
SHOWN = "data/labels.csv"
SCHEMA = SchemaSpec.model_validate({"table": "tickets", "fields": {
    "category": {"type": "enum", "values": ["billing", "bug", "other"]},
    "urgency": {"type": "enum", "values": ["low", "urgent"], "required": False},
    "summary": {"type": "string"},
    "count": {"type": "integer", "required": False},
    "score": {"type": "number", "required": False},
    "spam": {"type": "boolean", "required": False},
    "due": {"type": "date", "required": False},
    "seen_at": {"type": "datetime", "required": False},
    "tags": {"type": "list", "required": False},
}})
IDS = ["inbox:0001-a.eml", "inbox:0002-b.eml", "inbox:sub/0003-c.txt", "inbox:x/dup.eml", "archive:dup.eml"]


def write(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(tmp_path: Path, text: str) -> LabelSet:
    return read_labels(write(tmp_path, text), SHOWN, SCHEMA, IDS)


def problems_of(tmp_path: Path, text: str | None = None, path: Path | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        read_labels(path or write(tmp_path, text or ""), SHOWN, SCHEMA, IDS)
    assert all(p.file == SHOWN for p in caught.value.problems)
    return caught.value.problems


def only_problem(tmp_path: Path, text: str) -> ConfigProblem:
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


def test_item_id_key_reads_values_and_leaves_blank_cells_out(tmp_path):
    labels = read(tmp_path, "item_id,category,summary,count\n"
                            "inbox:0001-a.eml,bug,App crashes,3\n"
                            "inbox:sub/0003-c.txt,billing,,\n")
    assert labels == LabelSet(
        file=SHOWN, key_column="item_id", fields=("category", "summary", "count"),
        expected={"inbox:0001-a.eml": {"category": "bug", "summary": "App crashes", "count": "3"},
                  "inbox:sub/0003-c.txt": {"category": "billing"}},
        lines={"inbox:0001-a.eml": 2, "inbox:sub/0003-c.txt": 3})


def test_file_key_matches_the_file_name_in_a_subfolder(tmp_path):
    labels = read(tmp_path, "file,urgency\n0003-c.txt,urgent\n0001-a.eml,low\n")
    assert labels.key_column == "file"
    assert labels.expected == {"inbox:sub/0003-c.txt": {"urgency": "urgent"}, "inbox:0001-a.eml": {"urgency": "low"}}
    assert labels.lines == {"inbox:sub/0003-c.txt": 2, "inbox:0001-a.eml": 3}


def test_bom_spaces_blank_lines_and_quoted_cells(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes('\ufefffile, summary\r\n\r\n0001-a.eml, "two\r\nlines"\r\n0002-b.eml,  "ok, fine" \r\n'.encode())
    labels = read_labels(path, SHOWN, SCHEMA, IDS)
    assert labels.fields == ("summary",)
    assert labels.expected == {"inbox:0001-a.eml": {"summary": "two\r\nlines"},
                               "inbox:0002-b.eml": {"summary": "ok, fine"}}
    assert labels.lines == {"inbox:0001-a.eml": 3, "inbox:0002-b.eml": 5}


def test_item_id_wins_over_file_which_is_then_not_a_field(tmp_path):
    problem = only_problem(tmp_path, "item_id,file,category\ninbox:0001-a.eml,0001-a.eml,bug\n")
    assert (problem.line, problem.key) == (1, "file")
    assert problem.message == "column 'file' is not a field of table 'tickets'"
    assert problem.hint == "the key column is item_id; remove the file column"


def test_missing_file(tmp_path):
    problem = problems_of(tmp_path, path=tmp_path / "nope.csv")[0]
    assert problem.line is None
    assert problem.message == "the labels file is missing"
    assert "item_id or file" in (problem.hint or "")
    assert problem.render().startswith("data/labels.csv: the labels file is missing (create it")


def test_unreadable_file(tmp_path):
    problem = problems_of(tmp_path, path=tmp_path)[0]
    assert problem.line is None
    assert problem.message.startswith("the labels file cannot be read")
    assert problem.hint


def test_not_utf8(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes("file,summary\n0001-a.eml,caf\u00e9\n".encode("latin-1"))
    problem = problems_of(tmp_path, path=path)[0]
    assert problem.line is None
    assert problem.message == "the labels file is not UTF-8 text (first bad byte on line 2)"
    assert "UTF-8" in (problem.hint or "")


@pytest.mark.parametrize("text", ["", "\n\n", " , \n"])
def test_empty_file(tmp_path, text):
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.message) == (1, "the labels file is empty")


def test_header_only(tmp_path):
    problem = only_problem(tmp_path, "file,category\n")
    assert (problem.line, problem.message) == (1, "the labels file has a header but no rows")


def test_missing_key_column(tmp_path):
    problem = only_problem(tmp_path, "category,urgency\nbug,low\n")
    assert problem.line == 1
    assert "item_id" in problem.message and "file" in problem.message
    assert problem.hint == "add an item_id column (full item ids) or a file column (file names)"


def test_unknown_column_with_did_you_mean(tmp_path):
    problem = only_problem(tmp_path, "file,categroy\n0001-a.eml,bug\n")
    assert (problem.line, problem.key) == (1, "categroy")
    assert problem.message == "column 'categroy' is not a field of table 'tickets'"
    assert problem.hint == "did you mean 'category'?"


def test_unknown_column_lists_the_fields(tmp_path):
    problem = only_problem(tmp_path, "file,language\n0001-a.eml,en\n")
    assert (problem.line, problem.key) == (1, "language")
    assert problem.hint == "the fields are: category, urgency, summary, count, score, spam, due, seen_at"


def test_list_field_cannot_be_labelled(tmp_path):
    problem = only_problem(tmp_path, "file,tags\n0001-a.eml,x\n")
    assert (problem.line, problem.key) == (1, "tags")
    assert problem.message == "column 'tags' is a list field, which cannot be labelled"


def test_duplicate_and_nameless_header_columns(tmp_path):
    problems = problems_of(tmp_path, "file,category,,category\n0001-a.eml,bug,,bug\n")
    assert [(p.line, p.key, p.message) for p in problems] == [
        (1, None, "column 3 has no name"),
        (1, "category", "column 'category' appears twice in the header"),
    ]


def test_duplicate_key_is_reported_on_the_second_line(tmp_path):
    problem = only_problem(tmp_path, "file,category\n0001-a.eml,bug\n0002-b.eml,bug\n0001-a.eml,billing\n")
    assert (problem.line, problem.key) == (4, "file")
    assert problem.message == "column 'file': '0001-a.eml' is labelled twice (first on line 2)"


def test_unknown_item_id(tmp_path):
    problem = only_problem(tmp_path, "item_id,category\ninbox:0001-a.eml,bug\ninbox:0001-a.em,bug\n")
    assert (problem.line, problem.key) == (3, "item_id")
    assert problem.message == "column 'item_id': 'inbox:0001-a.em' is not an item of the crew's sources"
    assert problem.hint == "did you mean 'inbox:0001-a.eml'?"


def test_unmatched_and_ambiguous_file(tmp_path):
    problems = problems_of(tmp_path, "file,category\n0009-z.eml,bug\ndup.eml,bug\n")
    assert [(p.line, p.key) for p in problems] == [(2, "file"), (3, "file")]
    assert problems[0].message == "column 'file': '0009-z.eml' matches no item of the crew's sources"
    assert problems[1].message == "column 'file': 'dup.eml' matches 2 items (inbox:x/dup.eml, archive:dup.eml)"
    assert problems[1].hint == "use an item_id column with full item ids"


def test_blank_key(tmp_path):
    problem = only_problem(tmp_path, "file,category\n,bug\n")
    assert (problem.line, problem.key, problem.message) == (2, "file", "column 'file' is blank")


def test_row_with_another_number_of_cells(tmp_path):
    problem = only_problem(tmp_path, "file,category,summary\n0001-a.eml,bug\n0002-b.eml,bug,x\n")
    assert problem.line == 2
    assert problem.message == "the row has 2 cells but the header has 3 columns"


def test_value_outside_the_enum(tmp_path):
    problem = only_problem(tmp_path, "file,category\n0001-a.eml,bug\n0002-b.eml,Bug\n")
    assert (problem.line, problem.key) == (3, "category")
    assert problem.message == "column 'category': 'Bug' is not one of billing, bug, other"
    assert problem.hint == "did you mean 'bug'?"
    assert problem.render() == ("data/labels.csv:3: column 'category': 'Bug' is not one of billing, bug, other "
                                "(did you mean 'bug'?)")


@pytest.mark.parametrize(("column", "good", "bad", "what"), [
    ("count", "-3", "3.5", "an integer"),
    ("score", "2.50", "2.5.1", "a number"),
    ("score", "1e3", "nan", "a number"),
    ("spam", "Yes", "maybe", "a boolean"),
    ("spam", "0", "2", "a boolean"),
    ("due", "2024-05-31", "31/05/2024", "a date"),
    ("seen_at", "2024-05-31T14:30:00+02:00", "2024-05-31 2pm", "a datetime"),
])
def test_values_that_do_not_parse(tmp_path, column, good, bad, what):
    problem = only_problem(tmp_path, f"file,{column}\n0001-a.eml,{good}\n0002-b.eml,{bad}\n")
    assert (problem.line, problem.key) == (3, column)
    assert problem.message == f"column '{column}': '{bad}' is not {what}"
    assert problem.hint


def test_every_problem_is_collected_up_to_the_cap(tmp_path):
    rows = "".join(f"0001-a.eml,wrong{n},en\n" for n in range(30))
    problems = problems_of(tmp_path, "file,category,language\n" + rows)
    assert len(problems) == MAX_PROBLEMS + 1
    # 1 header column, 30 values outside the enum, 29 duplicates: the last line gives the total
    assert problems[-1].message == f"60 problems in all; the first {MAX_PROBLEMS} are shown"
    problems = problems[:-1]
    assert (problems[0].line, problems[0].key) == (1, "language")
    assert (problems[1].line, problems[1].key) == (2, "category")
    assert [p.line for p in problems[1:4]] == [2, 3, 3]  # line 3: a bad value, then a duplicate key
    assert problems[3].key == "file"


def test_shipped_inbox_labels_read_against_the_support_inbox_schema():
    crews = yaml.safe_load((ROOT / "config" / "crews.yaml").read_text(encoding="utf-8"))
    schema = SchemaSpec.model_validate(crews["support_inbox"]["schema"])
    ids = ["inbox:" + p.name for p in sorted((ROOT / "data" / "inbox").iterdir())]
    labels = read_labels(ROOT / "data" / "inbox_expected.csv", "data/inbox_expected.csv", schema, ids)
    assert labels.key_column == "file"
    assert len(labels.expected) == 30
    assert set(labels.expected) <= set(ids)


def test_needs_action_is_an_outcome_column_read_as_a_boolean_not_a_field(tmp_path: Path) -> None:
    labels = read(tmp_path, "file,category,needs_action\n0001-a.eml,bug,true\n0002-b.eml,billing,no\n"
                            "0003-c.txt,other,\n")
    assert labels.fields == ("category",), "needs_action is not a record field: not scored as one"
    assert labels.expected["inbox:0001-a.eml"] == {"category": "bug"}
    assert labels.actions == {"inbox:0001-a.eml": True, "inbox:0002-b.eml": False}


def test_a_needs_action_that_is_not_a_boolean_names_line_and_column(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path, "file,category,needs_action\n0001-a.eml,bug,maybe\n")
    assert (problem.line, problem.key) == (2, "needs_action")
    assert "'maybe' is not true or false" in problem.message
def test_validate_gives_the_total_and_works_out_did_you_mean_only_for_the_problems_it_shows(
        project_dir: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """5,000 unmatched rows: 5,000 problems counted, 20 shown with their did-you-mean, not 5,000 searches."""
    import difflib

    searches = []
    real = difflib.get_close_matches
    monkeypatch.setattr(difflib, "get_close_matches", lambda *a, **k: searches.append(a[0]) or real(*a, **k))
    rows = "".join(f"{n:04d}-elsewhere.eml,billing,medium,Nimbus Cloud Plan,neutral\n" for n in range(5000))
    (project_dir / "data" / "inbox_expected.csv").write_text("file,category,urgency,product,sentiment\n" + rows)
    code, _, err = cli("validate")
    said = " ".join(err.split())
    assert code == 2, err[-2000:]
    assert "data/inbox_expected.csv: 5,000 problems in all; the first 20 are shown" in said
    assert said.count("matches no item of the crew's sources") == MAX_PROBLEMS
    assert len(searches) <= MAX_PROBLEMS
