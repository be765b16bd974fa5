"""Does a digest state only true numbers and item ids? The publisher's prose is checked against the facts it was
given (``pipeline.facts``) before it reaches the report.

- Every number (``12``, ``3.5``, ``12%``, ``twelve``, ``twenty-seven``) must be a number of the facts' text, or one
  of them as a percentage of the items processed or loaded (rounded down, to nearest or up). ``one`` is a number
  except in ``no one``, ``one of``, ``each one``, ``one another``, ``one by one``.
- A number right before a value of an enum field (``3 urgent``, ``two billing``) must be that value's count, over
  the loaded records or over the loaded and held ones.
- An item id (in full, ``inbox:0003-x.eml``; its file name ``0003-x.eml``; its stem ``0003-x``; or its leading
  number ``0003``) must be an id the facts name; a file-name-like word or a zero-led number that is no id of the
  run is false.

``check_digest`` returns the first false statement as a sentence, or ``None`` when the digest is true.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from etlcrew.pipeline.facts import RunFacts

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "dozen": 12}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_WORD = "|".join(sorted([*_UNITS, *_TENS], key=len, reverse=True))
_NUMBER = re.compile(
    rf"(?<![\w.])(?:(?P<digits>\d+(?:[.,]\d+)?)|(?P<words>(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_UNITS)}))?"
    rf"|{_WORD}))(?P<pct>\s*(?:%|percent\b|per cent\b))?(?![\w])", re.IGNORECASE)
_NOT_A_NUMBER = re.compile(r"\b(?:no|each|any|every|some|the)\s+one\b|\bone\s+(?:of|another|by one)\b",
                           re.IGNORECASE)
_ID_SHAPED = re.compile(r"[\w.-]*\w\.(?:eml|txt|md|html?|json|csv|pdf|msg)\b|\b\w+:[\w./-]+|\b0\d{2,}\b",
                        re.IGNORECASE)


def _value(match: re.Match[str]) -> float:
    if match.group("digits"):
        return float(match.group("digits").replace(",", "."))
    words = re.split(r"[- ]", match.group("words").lower())
    return float(sum(_TENS.get(w, _UNITS.get(w, 0)) for w in words))


def numbers_in(text: str) -> list[tuple[float, bool, int, int]]:
    """(value, is a percentage, start, end) of every number in ``text``, digits or words."""
    blanked = _NOT_A_NUMBER.sub(lambda m: " " * len(m.group(0)), text)
    return [(_value(m), bool(m.group("pct")), m.start(), m.end()) for m in _NUMBER.finditer(blanked)]


def id_forms(item_id: str) -> list[str]:
    """The ways a digest may name an item: full id, file name, stem, leading number (longest first)."""
    name = item_id.split(":", 1)[-1].rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    lead = re.match(r"(\d{2,})[-_ ]", stem)
    forms = [item_id, name, stem, lead.group(1) if lead else ""]
    return sorted({f for f in forms if len(f) >= 2}, key=len, reverse=True)


def _strip_ids(digest: str, known: Iterable[str], given: set[str]) -> tuple[str, str | None]:
    """The digest with every named item blanked out, and the first id named that the facts do not give."""
    forms = sorted(((form, item_id) for item_id in known for form in id_forms(item_id)), key=lambda f: -len(f[0]))
    text = digest
    for form, item_id in forms:
        pattern = re.compile(rf"(?<![\w-]){re.escape(form)}(?![\w-]|\.\w)")
        if pattern.search(text):
            if item_id not in given:
                return text, f"it names item {item_id}, which the facts do not list"
            text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    odd = _ID_SHAPED.search(text)
    if odd:
        return text, f"it names {odd.group(0)!r}, which is no item of this run"
    return text, None


def _percentages(counts: set[float], totals: list[int]) -> set[float]:
    """Each count as a percentage of the items processed or loaded, rounded down, to nearest or up."""
    whole = [t for t in totals if t > 0]
    return {float(f(100 * part / total)) for part in counts for total in whole if part <= total
            for f in (int, round, lambda x: -int(-x // 1))}


def repeated_sentence(digest: str) -> str | None:
    """A sentence of four words or more that the digest says again (words compared, case and punctuation
    ignored): a small model that loops fills the digest's length with the same sentences, all of them true."""
    seen: set[str] = set()
    for sentence in re.split(r"(?<=[.!?;])\s+", digest):
        words = " ".join(re.findall(r"\w+", sentence.lower()))
        if len(words.split()) >= 4:
            if words in seen:
                return sentence.strip()
            seen.add(words)
    return None


def check_digest(digest: str, facts: RunFacts, facts_text: str) -> str | None:
    """Why ``digest`` states something false or says a sentence twice (a sentence), or ``None`` when every number
    and id is given and nothing is repeated."""
    repeated = repeated_sentence(digest)
    if repeated:
        return f"it says {repeated[:120]!r} more than once"
    given = {item_id for item_id in facts.all_ids if any(f in facts_text for f in id_forms(item_id)[:1])}
    given |= {a.item_id for a in facts.actions}
    text, wrong = _strip_ids(digest, facts.all_ids, given)
    if wrong:
        return wrong
    facts_plain, _ = _strip_ids(facts_text, facts.all_ids, set(facts.all_ids))
    allowed = {value for value, pct, _, _ in numbers_in(facts_plain) if not pct}
    percents = _percentages(allowed, [facts.processed, facts.loaded])
    for value, pct, start, end in numbers_in(text):
        if value not in (percents if pct else allowed):
            kind = "percentage" if pct else "number"
            return f"it states the {kind} {text[start:end].strip()!r}, which is not among the facts"
        wrong = None if pct else _value_count(text, end, value, facts)
        if wrong:
            return wrong
    return None


def _value_count(text: str, end: int, value: float, facts: RunFacts) -> str | None:
    """A number right before an enum value (``3 urgent``) must be that value's count (loaded, or with held)."""
    after = text[end:end + 60].lower()
    expected: dict[str, set[float]] = {}
    for name, counts in facts.all_by_field.items():
        loaded = dict(facts.by_field.get(name, []))
        for label, n in counts.items():
            if re.match(rf"\s+{re.escape(label.lower())}(?![\w])", after):
                expected.setdefault(label, set()).update({float(n), float(loaded.get(label, 0))})
    if not expected:
        return None
    label = max(expected, key=len)  # "2 Nimbus Doorbell Cam" names that value, not a shorter one
    if value in expected[label]:
        return None
    counts = " or ".join(f"{c:g}" for c in sorted(expected[label]))
    return f"it says {value:g} {label}, but the facts count {counts}"


_JSON_SHAPES = re.compile(r'[{}\[\]]|"\w+"\s*:|\\"|item_\{')


def readable_digest(text: str | None) -> str | None:
    """The digest when it is prose; ``None`` for JSON fragments or text with too few words to be prose.

    A small model asked for a digest inside a JSON grammar sometimes fills it with ``{{``, ``[{`` or
    ``"item_...``: the report says there is no digest rather than print that.
    """
    cleaned = " ".join((text or "").split())
    words = re.findall(r"[^\W\d_]{2,}", cleaned)
    if len(words) < 4 or _JSON_SHAPES.search(cleaned) or len("".join(words)) < 0.6 * len(cleaned.replace(" ", "")):
        return None
    return cleaned
