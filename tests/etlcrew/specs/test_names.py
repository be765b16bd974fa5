"""The storable-name rule agrees with dlt's own snake_case naming, and suggestions are storable and free."""

from __future__ import annotations

import random

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
        assert _stored_as(name) == dlt_name(name), name


@pytest.mark.parametrize(("name", "taken", "expected"), [
    ("kundenname_ü", set(), "kundenname_u"), ("😀", set(), "field"), ("CustomerName", set(), "customer_name"),
    ("1st", set(), "field_1st"), ("review_reason", set(), "review_reason_2"), ("a b", {"a_b"}, "a_b_2"),
])
def test_suggestions_are_storable_and_free(name: str, taken: set[str], expected: str) -> None:
    suggested = identifier_for(name, taken)
    assert suggested == expected
    assert STORABLE.match(suggested) and suggested not in taken and suggested not in PRODUCT_COLUMNS
