"""The facts of one run's outcome, computed by code from every record the run landed: counts, breakdowns and the
items that need action. The publisher writes prose around them (``pipeline.outcome``); when its digest states a
number or an item id that is not among them (``pipeline.digest_check``), the plain digest written here replaces it.

Breakdowns count the loaded records, as the report's tables do; records held for review are counted apart, and a
held record that matches the action rule is still listed (marked held): a safety item held for review still needs
a person.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from etlcrew.pipeline.records import REASON_FIELD
from etlcrew.specs.datapath import SchemaSpec

SHOWN_FIELDS = 4  # an action item's line shows its first enum values and a short summary
MAX_RECORD_LINES = 200  # the publisher choosing the action items sees at most this many records


@dataclass(frozen=True)
class ActionItem:
    """An item that needs action: its id, whether it is held for review, and a short line about it."""

    item_id: str
    held: bool
    about: str


@dataclass
class RunFacts:
    """What the run's digest may state; ``text()`` is how the publisher is given them."""

    loaded: int = 0
    review: int = 0
    quarantined: int = 0
    earlier: int = 0  # items unchanged since an earlier run: skipped, not in this digest
    by_field: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # loaded records only
    all_by_field: dict[str, dict[str, int]] = field(default_factory=dict)  # loaded and held records
    actions: list[ActionItem] = field(default_factory=list)
    record_lines: dict[str, str] = field(default_factory=dict)  # item_id -> line (publisher's choice only)
    all_ids: list[str] = field(default_factory=list)  # every item of the run, quarantined included

    @property
    def processed(self) -> int:
        return self.loaded + self.review + self.quarantined

    def counts(self) -> list[tuple[str, int]]:
        return [("items processed in this run", self.processed), ("loaded", self.loaded),
                ("held for review", self.review), ("quarantined", self.quarantined)]

    def text(self, ask_for_actions: bool) -> str:
        """The facts as the publisher reads them (its context): one fact a line, ids as given."""
        lines = ["Facts about this run, computed by code from every record. State only these numbers and item "
                 "ids; do not compute new ones.",
                 f"- items processed in this run: {self.processed} ({self.loaded} loaded, {self.review} held for "
                 f"review, {self.quarantined} quarantined)"]
        if self.earlier:
            lines.append(f"- earlier items unchanged, not in this run: {self.earlier}")
        for name, rows in self.by_field.items():
            shown = ", ".join(f"{value} {n}" for value, n in rows if n)
            lines.append(f"- by {name} (the {self.loaded} loaded records): {shown or 'none'}")
        if not ask_for_actions or self.actions:
            lines.append(f"- items that need action today: {len(self.actions)}")
            lines += [f"  - {a.item_id}: {a.about}" + (" (held for review)" if a.held else "") for a in self.actions]
        if ask_for_actions:
            lines.append("Records (one line each; list in action_item_ids those that need action today):")
            lines += [f"  - {item_id}: {line}" for item_id, line in self.record_lines.items()]
        return "\n".join(lines)

    def with_actions(self, actions: list[ActionItem]) -> RunFacts:
        """The same facts with the final action list (the publisher's choice merged in)."""
        return replace(self, actions=actions)


def _about(record: dict[str, Any], schema: SchemaSpec) -> str:
    """``urgency=urgent; product=Nimbus Doorbell Cam; summary=...``: the record as one short line."""
    enums = [n for n, s in schema.fields.items() if s.type == "enum"][:SHOWN_FIELDS]
    texts = [n for n, s in schema.fields.items() if s.type == "string" and n != REASON_FIELD][:1]
    parts = [f"{n}={record.get(n)}" for n in enums if record.get(n) is not None]
    parts += [f"{n}={' '.join(str(record.get(n)).split())[:100]}" for n in texts if record.get(n)]
    return "; ".join(parts)


def _breakdown(records: Iterable[dict[str, Any]], schema: SchemaSpec) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, spec in schema.fields.items():
        if spec.type == "enum":
            counts = dict.fromkeys([str(v) for v in spec.values or []], 0)
            for record in records:
                value = record.get(name)
                if value is not None:
                    counts[str(value)] = counts.get(str(value), 0) + 1
            out[name] = counts
    return out


def compute_facts(outcomes: list[Any], schema: SchemaSpec, rule: str | None, earlier: int) -> RunFacts:
    """The facts of the run's landed outcomes (``journal.BatchOutcome``); ``rule`` decides the action items."""

    records = [r for o in outcomes for r in o.records]
    held = [r for o in outcomes for r in o.review]
    quarantined = [q for o in outcomes for q in o.quarantined]
    facts = RunFacts(len(records), len(held), len(quarantined), earlier, breakdowns(records, schema),
                     _breakdown([*records, *(h.record for h in held)], schema))
    facts.record_lines = {str(r["item_id"]): _about(r, schema) for r in records}
    facts.record_lines |= {h.item_id: _about(h.record, schema) + " (held for review)" for h in held}
    facts.record_lines = dict(sorted(facts.record_lines.items())[:MAX_RECORD_LINES])
    facts.all_ids = sorted({str(r["item_id"]) for r in records} | {h.item_id for h in held}
                           | {q.item_id for q in quarantined})
    if rule:
        facts.actions = rule_actions(records, held, schema, rule)
    return facts


def rule_actions(records: list[dict[str, Any]], held: list[Any], schema: SchemaSpec, rule: str) -> list[ActionItem]:
    """The records (loaded or held for review) matching the crew's ``actions: {when: ...}``, by item id."""
    from etlcrew.pipeline.targets.conditions import parse_condition

    matches = parse_condition(rule)
    found = [ActionItem(str(r["item_id"]), False, _about(r, schema)) for r in records if matches(r)]
    found += [ActionItem(h.item_id, True, _about(h.record, schema)) for h in held if matches(h.record)]
    return sorted(found, key=lambda a: a.item_id)


def merge_actions(facts: RunFacts, chosen: list[str]) -> list[ActionItem]:
    """The rule's items and the publisher's ``chosen`` ids (only ids of this run's records), by item id."""
    held = {item_id for item_id, line in facts.record_lines.items() if line.endswith("(held for review)")}
    found = {a.item_id: a for a in facts.actions}
    for item_id in chosen:
        if item_id in facts.record_lines and item_id not in found:
            about = facts.record_lines[item_id].removesuffix(" (held for review)")
            found[item_id] = ActionItem(item_id, item_id in held, about)
    return sorted(found.values(), key=lambda a: a.item_id)


def _items(count: int, adjective: str = "") -> str:
    """``1 item``, ``3 items``, ``1 earlier item``: the code digest reads as a person would write it."""
    word = "item" if count == 1 else "items"
    return f"{count} {adjective + ' ' if adjective else ''}{word}"


def code_digest(facts: RunFacts) -> str:
    """The plain digest written by code from the facts: true by construction."""
    earlier = f"{_items(facts.earlier, 'earlier')} unchanged, not in this digest."
    if not facts.processed:
        return f"No new or changed items in this run; {earlier}"
    parts = [f"{_items(facts.processed)} processed in this run: {facts.loaded} loaded, {facts.review} held for "
             f"review, {facts.quarantined} quarantined."]
    if facts.actions:
        listed = ", ".join(a.item_id + (" (held for review)" if a.held else "") for a in facts.actions)
        verb = "needs" if len(facts.actions) == 1 else "need"
        parts.append(f"{len(facts.actions)} {verb} action today: {listed}.")
    else:
        parts.append("No item needs action today.")
    for name, rows in facts.by_field.items():
        shown = ", ".join(f"{value} {n}" for value, n in rows if n)
        if shown:
            parts.append(f"By {name}: {shown}.")
    if facts.earlier:
        parts.append(earlier)
    return " ".join(parts)


_NONE = "(none)"


def breakdowns(records: list[dict[str, Any]], schema: SchemaSpec) -> dict[str, list[tuple[str, int]]]:
    """Counts per value of each enum field: the schema's values in order (zeros included), then others, then none."""
    out: dict[str, list[tuple[str, int]]] = {}
    for name, spec in schema.fields.items():
        if spec.type != "enum":
            continue
        counts = Counter(_NONE if r.get(name) is None else str(r.get(name)) for r in records)
        values = list(spec.values or [])
        rows = [(v, counts.pop(v, 0)) for v in values]
        none = counts.pop(_NONE, 0)
        rows += sorted(counts.items())
        if none:
            rows.append((_NONE, none))
        out[name] = rows
    return out
