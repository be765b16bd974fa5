"""The digest checker on its own: number words, percentages, ids in their short forms, counts of enum values."""

from __future__ import annotations

from etlcrew.pipeline.digest_check import check_digest, id_forms, numbers_in
from etlcrew.pipeline.facts import ActionItem, RunFacts

DOOR = "inbox:0003-doorbell-offline-urgent.eml"
PLUG = "inbox:0022-webform-plug-burning-smell.txt"
BILL = "inbox:0001-double-charge.eml"


def facts() -> RunFacts:
    found = RunFacts(loaded=19, review=1, quarantined=0, earlier=27,
                     by_field={"urgency": [("low", 10), ("medium", 7), ("urgent", 2)]},
                     all_by_field={"urgency": {"low": 10, "medium": 7, "urgent": 3}},
                     actions=[ActionItem(DOOR, False, "urgency=urgent"), ActionItem(PLUG, True, "urgency=urgent")])
    found.all_ids = [BILL, DOOR, PLUG]
    return found


def check(digest: str) -> str | None:
    given = facts()
    return check_digest(digest, given, given.text(False))


def test_numbers_are_read_in_digits_and_words() -> None:
    assert [(v, p) for v, p, _, _ in numbers_in("Twenty-seven items, 3.5% of them, one of which; no one else.")] \
        == [(27.0, False), (3.5, True)]
    assert [v for v, _, _, _ in numbers_in("a dozen, seven, 2FA codes and 4,5")] == [12.0, 7.0, 4.5]


def test_ids_are_named_in_full_by_file_name_stem_or_number() -> None:
    assert id_forms(DOOR) == [DOOR, "0003-doorbell-offline-urgent.eml", "0003-doorbell-offline-urgent", "0003"]


def test_true_statements_pass() -> None:
    assert check("Twenty items came in; two need a person today: 0003 and the held plug "
                 "(0022-webform-plug-burning-smell.txt). 27 earlier items are unchanged, 10% are urgent.") is None
    assert check("Two urgent items among the loaded records, 2 urgent in all that need a person.") is None
    assert "'Three'" in check("Three urgent items in all: the held one is no number the facts state.")


def test_false_statements_are_named() -> None:
    assert "'Five'" in check("Five items need a person today.")
    assert "10 urgent" in check("There are 10 urgent tickets today, please act on them.")
    assert BILL in check("The double charge in 0001 needs a person today.")
    assert "'0042'" in check("Ticket 0042 needs a person today, please act on it.")
    assert "'33%'" in check("A third of them, 33% in all, need a person today.")
