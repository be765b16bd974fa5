"""Corrections teach the crew: reviewed items become few-shot examples, chosen the same way every run and
balanced over their values; the text is the item's own; a bad reviewed file stops validate; a new review does not
make the next run re-ask loaded items."""

from __future__ import annotations

from pathlib import Path

import pytest

from etlcrew.pipeline.review_examples import choose
from tests.yaml_edit import edit_config

SCHEMA_LINE = "    reasoning: true"
REVIEWED = """file,category,urgency,product,sentiment
0003-doorbell-offline-urgent.eml,bug,urgent,Nimbus Doorbell Cam,negative
0005-hub-pairing-log.eml,bug,medium,Nimbus Hub,neutral
0012-thank-you.eml,praise,low,Nimbus Thermostat,positive
0002-thermostat-wont-hold-temp.eml,bug,medium,Nimbus Thermostat,neutral
"""
LABELS = "file,category\n0001-double-charge.eml,billing\n0002-thermostat-wont-hold-temp.eml,bug\n"


def test_choice_is_balanced_over_values_and_ignores_row_order() -> None:
    rows = {"a": {"category": "bug", "urgency": "medium"}, "b": {"category": "bug", "urgency": "medium"},
            "c": {"category": "billing", "urgency": "medium"}, "d": {"category": "praise", "urgency": "low"}}
    assert choose(rows, 2) == ["a", "d"], "d shares nothing with a; b and c share values with it"
    assert choose(rows, 3) == ["a", "d", "c"]
    assert choose(dict(reversed(rows.items())), 3) == ["a", "d", "c"], "the same choice whatever the file order"
    assert choose(rows, 3, skip={"a"}) == ["b", "d", "c"]
    assert choose(rows, 10) == ["a", "d", "c", "b"]


def with_reviews(project_dir: Path, max_examples: int, reviewed: str = REVIEWED) -> None:
    edit_config(project_dir / "config" / "crews.yaml", SCHEMA_LINE + "",
                f"    examples_from_reviews: {{max: {max_examples}}}\n" + SCHEMA_LINE)
    (project_dir / "data" / "support_inbox_reviewed.csv").write_text(reviewed)


@pytest.fixture
def sample(scripted):  # type: ignore[no-untyped-def]
    from etlcrew.model_runtime.scripted import sample_answer

    return scripted("teach", default=sample_answer)


def test_reviewed_items_are_shown_as_examples_never_the_item_itself(project_dir: Path, sample, cli) -> None:  # type: ignore[no-untyped-def]
    with_reviews(project_dir, 2)
    (project_dir / "data" / "labels.csv").write_text(LABELS)
    code, _, err = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/teach", "--json")
    assert code == 0, err
    prompts = [c.prompt for c in sample.history if c.task == "transform"]
    assert len(prompts) == 2
    for prompt in prompts:
        examples = prompt.split("Examples (text -> values):", 1)[1].split("<<DATA", 1)[0]
        assert "THIS IS UNACCEPTABLE" in examples, "0003 first: the lowest item id not being scored"
        assert "Just wanted to say thank you" in examples, "then 0012, which shares no value with 0003"
        assert "Hub won't pair" not in examples, "0005 shares bug with 0003: not chosen at max 2"
        assert "no longer holds" not in examples, "0002 is being scored: never its own example"
        assert "praise; urgency" in examples or "category: praise" in examples, "with its reviewed values"
    assert prompts[0].split("<<")[0] == prompts[1].split("<<")[0], "the same examples for every item"


def test_without_the_option_the_reviewed_file_is_not_read(project_dir: Path, sample, cli) -> None:  # type: ignore[no-untyped-def]
    (project_dir / "data" / "support_inbox_reviewed.csv").write_text("file,category\nnot-an-item.eml,nope\n")
    (project_dir / "data" / "labels.csv").write_text(LABELS)
    code, _, err = cli("eval", "--labels", "data/labels.csv", "--model", "scripted/teach", "--json")
    assert code == 0, err
    assert cli("validate").code == 0, "the file is only checked for a crew that reads it"


def test_validate_names_a_bad_row_of_the_reviewed_file(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with_reviews(project_dir, 2, REVIEWED + "9999-gone.eml,bug,medium,Nimbus Hub,neutral\n")
    code, _, err = cli("validate")
    assert code == 2
    assert "data/support_inbox_reviewed.csv:6: column 'file': '9999-gone.eml' matches no item" in err
    assert "Traceback" not in err


def test_validate_refuses_more_than_twenty_examples(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with_reviews(project_dir, 19)
    code, _, err = cli("validate")
    assert code == 2
    assert "examples_from_reviews" in err and "more than 20" in err


def test_a_new_review_does_not_make_the_next_run_re_ask_loaded_items(project_dir: Path, sample, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config" / "crews.yaml", 'patterns: ["*.eml", "*.txt"]', 'patterns: ["000[1-3]*.eml"]')
    with_reviews(project_dir, 2, "file,category\n")
    (project_dir / "data" / "support_inbox_reviewed.csv").unlink()  # nobody has reviewed anything yet
    first = cli("run", "--model", "scripted/teach", "--json")
    assert first.code == 0, first.err
    assert first.json["items"]["loaded"] == 3
    (project_dir / "data" / "support_inbox_reviewed.csv").write_text("\n".join(REVIEWED.splitlines()[:2]) + "\n")
    again = cli("run", "--model", "scripted/teach", "--json")
    assert again.code == 0, again.err
    assert again.json["llm"]["calls"] == 0 and again.json["items"]["skipped"] == 3


def test_the_learning_bench_splits_folds_and_writes_a_reviewed_file_the_crew_reads(project_dir: Path) -> None:
    import importlib.util

    from etlcrew.evaluation.label_files import read_crew_labels
    from etlcrew.settings import load_settings
    from etlcrew.specs.loader import load_project

    root = Path(__file__).resolve().parents[2]
    loaded = importlib.util.spec_from_file_location("learning", root / "bench" / "learning.py")
    assert loaded is not None and loaded.loader is not None
    learning = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(learning)

    settings = load_settings(load_dotenv_file=False)
    project = learning.with_shots(load_project(settings.config_dir), "support_inbox", 4)
    labels = read_crew_labels(settings, project, "support_inbox", None)
    ids = list(labels.expected)
    folds = learning.folds_of(ids, 3)
    assert sorted(i for fold in folds for i in fold) == sorted(ids) and [len(f) for f in folds] == [10, 10, 10]
    training = [i for i in ids if i not in folds[0]]
    learning.write_reviewed(project_dir / "data" / "support_inbox_reviewed.csv", labels, training)
    reviewed = read_crew_labels(settings, project, "support_inbox", "data/support_inbox_reviewed.csv")
    assert reviewed.expected == {i: labels.expected[i] for i in training}
    assert project.crews["support_inbox"].output_schema.examples_from_reviews.max == 4


def test_a_test_set_beside_its_labels_is_scored_with_examples_from_the_crews_own_reviews(  # type: ignore[no-untyped-def]
        project_dir: Path, sample, cli) -> None:
    import shutil

    with_reviews(project_dir, 2)
    folder = project_dir / "data" / "heldout"
    folder.mkdir()
    shutil.copy(project_dir / "data" / "inbox" / "0001-double-charge.eml", folder / "x-charge.eml")
    (folder / "labels.csv").write_text("file,category\nx-charge.eml,billing\n")
    code, _, err = cli("eval", "--labels", "data/heldout/labels.csv", "--model", "scripted/teach", "--json")
    assert code == 0, err
    [prompt] = [c.prompt for c in sample.history if c.task == "transform"]
    examples = prompt.split("Examples (text -> values):", 1)[1].split("<<DATA", 1)[0]
    assert "no longer holds" in examples and "THIS IS UNACCEPTABLE" in examples, "0002, then 0003 (tie with 0012)"
