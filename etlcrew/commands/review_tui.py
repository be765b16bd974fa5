"""The interactive review: one held item at a time, keyboard only, every decision saved at once.

Keys: Enter accepts the record as shown (a changed value makes it a correction), a field's number changes that
field (an enum: then the number of its new value; text: type the new value), ``e`` edits a text field, ``d``
discards the item, ``s`` skips it (it stays held), ``q`` quits. Esc (or any other key) backs out of a choice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.errors import EXIT_OK
from etlcrew.os_compat import key_reader
from etlcrew.redact import redact

if TYPE_CHECKING:
    from rich.console import Console

    from etlcrew.ledger import Ledger
    from etlcrew.pipeline.review_queue import HeldItem, SourceText
    from etlcrew.settings import Settings
    from etlcrew.specs.datapath import SchemaSpec
    from etlcrew.specs.project import ProjectSpec

EXCERPT_CHARS = 1200
KEYS = "Enter accept · 1-9 change a field · e edit text · d discard · s skip · q quit"


def _read_line(prompt: str) -> str:
    """One line typed with echo (the terminal in its usual mode for the while: ``os_compat.typed_line``)."""
    from etlcrew.os_compat import typed_line

    console.screen().print(prompt, end="", markup=False, highlight=False)
    return typed_line()


class ItemScreen:
    """One held item on screen and the values a person has set so far."""

    def __init__(self, screen: Console, schema: SchemaSpec, held: HeldItem, text: SourceText | None,
                 position: str) -> None:
        from etlcrew.pipeline.review_queue import editable_fields

        self.screen, self.schema, self.held, self.text, self.position = screen, schema, held, text, position
        self.fields = editable_fields(schema)
        self.values: dict[str, Any] = {f: held.record.get(f) for f in self.fields}
        self.message = ""

    @property
    def changed(self) -> bool:
        return any(self.values[f] != self.held.record.get(f) for f in self.fields)

    def draw(self, choices: list[str] | None = None) -> None:
        from rich.panel import Panel
        from rich.table import Table

        from etlcrew.pipeline.review_values import shown

        held, out = self.held, self.screen
        out.clear()
        where = f"source {self.text.source}" + (f" · file {self.text.file}" if self.text and self.text.file else "") \
            if self.text else "source text not found (the item changed or its source is gone)"
        out.print(f"[bold]{self.position}[/]  {redact(held.item_id)}  ({where})", markup=True, highlight=False)
        out.print(f"held: {redact(held.reason)}", markup=False, highlight=False)
        if self.text and self.text.content_hash and self.text.content_hash != held.content_hash:
            out.print("the item changed since it was held: the text below is the new one, the values are for the "
                      "old one (a run will ask the model again)", markup=False, highlight=False, style="yellow")
        excerpt = redact(self.text.text[:EXCERPT_CHARS]) if self.text else ""
        if self.text and len(self.text.text) > EXCERPT_CHARS:
            excerpt += " ..."
        out.print(Panel(excerpt or "(empty)", title="item", title_align="left", highlight=False))
        grid = Table(show_edge=False, header_style="bold")
        for column in ("#", "field", "value", "p"):
            grid.add_column(column)
        for number, name in enumerate(self.fields, 1):
            value, before = self.values[name], held.record.get(name)
            cell = redact(shown(value)) + (f"  (model: {redact(shown(before))})" if value != before else "")
            p = held.confidence.get(name)
            grid.add_row(str(number), name, cell, "" if p is None else f"{p:.2f}")
        out.print(grid)
        if choices:
            out.print("   ".join(f"{n} {v}" for n, v in enumerate(choices, 1)) + "   (Esc: back)",
                      markup=False, highlight=False)
        out.print(self.message or KEYS, markup=False, highlight=False)
        self.message = ""

    def choose_value(self, name: str, read_key: Callable[[], str]) -> None:
        """An enum: pick the new value by its number; text: type it (checked against the schema)."""
        from etlcrew.pipeline.review_values import parse_value, shown

        spec = self.schema.fields[name]
        if spec.type == "enum":
            options = list(spec.values or [])
            self.draw(choices=options)
            picked = _number(read_key, len(options), f"{name}: number of the value, then Enter: ")
            if picked is not None:
                self.values[name] = options[picked - 1]
            return
        typed = _read_line(f"{name} (now: {shown(self.values[name])}; Enter alone keeps it): ")
        if not typed.strip():
            return
        try:
            self.values[name] = parse_value(spec, typed)
        except ValueError as exc:
            self.message = f"{name}: {exc} (not changed)"

    def pick_text_field(self, read_key: Callable[[], str]) -> str | None:
        texts = [f for f in self.fields if self.schema.fields[f].type not in ("enum", "boolean")]
        if len(texts) <= 1:
            self.message = "" if texts else "this record has no text field: change a value by its number"
            return texts[0] if texts else None
        self.message = "edit which field? " + "   ".join(f"{self.fields.index(f) + 1} {f}" for f in texts)
        self.draw()
        picked = _number(read_key, len(self.fields), "field number, then Enter: ")
        return self.fields[picked - 1] if picked is not None and self.fields[picked - 1] in texts else None


def _number(read_key: Callable[[], str], count: int, prompt: str) -> int | None:
    """A number from 1 to ``count``: one key when ``count`` < 10, else typed and Enter; ``None`` backs out."""
    if count < 10:
        key = read_key()
        return int(key) if key.isdigit() and 1 <= int(key) <= count else None
    typed = _read_line(prompt).strip()
    return int(typed) if typed.isdigit() and 1 <= int(typed) <= count else None


def review_in_terminal(settings: Settings, project: ProjectSpec, ledger: Ledger, crew: str, reviewer: str) -> int:
    """Go through the held items, lowest confidence first, until the queue is done or the person quits."""
    from etlcrew.pipeline.review_queue import held_queue, readable_texts

    queue = held_queue(ledger, crew)
    if not queue:
        console.info(f"nothing of crew '{crew}' is held for review")
        return EXIT_OK
    texts = readable_texts(settings, project, crew)
    files = {item_id: t.file for item_id, t in texts.items()}
    schema = project.crews[crew].output_schema
    assert schema is not None
    counts = dict.fromkeys(("accept", "correct", "discard", "skip"), 0)
    with key_reader() as read_key:
        for number, held in enumerate(queue, 1):
            screen = ItemScreen(console.screen(), schema, held, texts.get(held.item_id), f"{number}/{len(queue)}")
            outcome = _one_item(screen, read_key, lambda d, final, h=held: _decide(
                settings, project, ledger, crew, h, d, final, reviewer, files))
            if outcome == "quit":
                break
            counts[outcome] += 1
    decided = counts["accept"] + counts["correct"] + counts["discard"]
    console.screen().print(f"{decided} decided ({counts['accept']} accepted, {counts['correct']} corrected, "
                           f"{counts['discard']} discarded), {len(queue) - decided} still held", markup=False)
    return EXIT_OK


def _decide(settings: Settings, project: ProjectSpec, ledger: Ledger, crew: str, held: HeldItem, decision: str,
            final: dict[str, Any] | None, reviewer: str, files: dict[str, str | None]) -> None:
    from etlcrew.pipeline.review_queue import decide

    decide(settings, project, crew, ledger, held, decision, final, reviewer, files)


def _one_item(screen: ItemScreen, read_key: Callable[[], str],
              save: Callable[[str, dict[str, Any] | None], None]) -> str:
    """Keys until the item is decided, skipped or the person quits; returns which."""
    while True:
        screen.draw()
        key = read_key()
        if key in ("\r", "\n"):
            decision = "correct" if screen.changed else "accept"
            save(decision, dict(screen.values))
            return decision
        if key == "d":
            save("discard", None)
            return "discard"
        if key == "s":
            return "skip"
        if key in ("q", ""):
            return "quit"
        if key == "e":
            name = screen.pick_text_field(read_key)
            if name:
                screen.choose_value(name, read_key)
        elif key.isdigit() and 1 <= int(key) <= len(screen.fields):
            screen.choose_value(screen.fields[int(key) - 1], read_key)
        else:
            screen.message = f"unknown key {key!r}: {KEYS}"
