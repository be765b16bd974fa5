"""``review --export`` / ``--import``: decide held items in a CSV file, for a spreadsheet or a script.

The export has ``item_id``, ``reason``, an empty ``decision`` and one column per field with the model's values.
The import applies rows whose decision is ``accept`` (with the values as edited: a changed value makes it a
correction) or ``discard``, and leaves rows with an empty decision held. Every row is checked first (item held,
decision known, each value valid for its field); one bad row and nothing is applied: exit 2 with line and column.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etlcrew import console
from etlcrew.errors import EXIT_OK, ConfigError, ConfigProblem, UsageError
from etlcrew.invocation import command

if TYPE_CHECKING:
    from etlcrew.ledger import Ledger
    from etlcrew.pipeline.review_queue import HeldItem
    from etlcrew.settings import Settings
    from etlcrew.specs.datapath import SchemaSpec
    from etlcrew.specs.project import ProjectSpec

FIXED = ("item_id", "reason", "decision")
IMPORTED = ("accept", "discard")
MAX_PROBLEMS = 20


def export_csv(ledger: Ledger, crew: str, schema: SchemaSpec, path: Path) -> int:
    """Write the held items, lowest confidence first, with an empty decision column."""
    from etlcrew.pipeline.review_queue import editable_fields, held_queue
    from etlcrew.pipeline.review_values import shown

    queue = held_queue(ledger, crew)
    fields = editable_fields(schema)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([*FIXED, *fields])
            for held in queue:
                writer.writerow([held.item_id, held.reason, "", *(shown(held.record.get(f)) for f in fields)])
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}", "give a writable path") from None
    console.info(f"wrote {len(queue)} held items to {path}: set decision to accept (with the values as edited) "
                 f"or discard, then: {command('review', crew, '--import', str(path))}")
    return EXIT_OK


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank rows with the line each starts on."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"no file {path}", "export one with --export FILE.csv") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path} as UTF-8 text: {exc}", "save it as CSV UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, end = [], 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
    except csv.Error as exc:
        raise ConfigError([ConfigProblem(str(path), f"not valid CSV: {exc}", reader.line_num,
                                         hint="quote cells holding a comma, quote or line break")]) from None
    return rows


class _Checked:
    """The import's problems (line and column) and the decisions of the rows that passed."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[ConfigProblem] = []
        self.decisions: list[tuple[HeldItem, str, dict[str, Any] | None]] = []

    def add(self, line: int, column: str | None, message: str, hint: str | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            where = f"column '{column}': " if column else ""
            self.problems.append(ConfigProblem(self.file, where + message, line, key=column, hint=hint))


def _check_header(names: list[str], line: int, schema: SchemaSpec, fields: list[str], checked: _Checked) -> None:
    for name in ("item_id", "decision"):
        if name not in names:
            checked.add(line, name, "missing from the header", "keep the columns --export wrote")
    for name in names:
        if name not in FIXED and name not in fields:
            checked.add(line, name, f"is not a field of table '{schema.table}'", f"the fields are: {', '.join(fields)}")


def _check_values(row: dict[str, str], line: int, item: HeldItem, schema: SchemaSpec, fields: list[str],
                  checked: _Checked) -> None:
    """An accepted row: the values as edited, each checked against its field; a change makes it a correction."""
    from etlcrew.pipeline.review_values import parse_value

    final = {f: item.record.get(f) for f in fields}
    for name in fields:
        if name in row:
            try:
                final[name] = parse_value(schema.fields[name], row[name])
            except ValueError as exc:
                checked.add(line, name, str(exc))
    same = all(_same_value(final[f], item.record.get(f)) for f in fields)
    checked.decisions.append((item, "accept" if same else "correct", final))


def _same_value(given: object, suggested: object) -> bool:
    """The person's value is the model's: equal, or text equal but for the spaces around it (a spreadsheet and
    the import trim them, so an untouched row stays an acceptance, not a correction)."""
    if isinstance(given, str) and isinstance(suggested, str):
        return given.strip() == suggested.strip()
    return given == suggested


def check_import(path: Path, schema: SchemaSpec, queue: list[HeldItem]) -> _Checked:
    """Every row checked against the held items and the schema; nothing is applied here."""
    from etlcrew.pipeline.review_queue import editable_fields

    checked = _Checked(str(path))
    rows = _rows(path)
    if not rows:
        checked.add(1, None, "the file is empty", "export one with --export FILE.csv")
        return checked
    names = [n.strip() for n in rows[0][1]]
    fields = editable_fields(schema)
    _check_header(names, rows[0][0], schema, fields, checked)
    if checked.problems:
        return checked
    held = {h.item_id: h for h in queue}
    seen: dict[str, int] = {}
    for line, cells in rows[1:]:
        if len(cells) != len(names):
            checked.add(line, None, f"the row has {len(cells)} cells but the header has {len(names)} columns",
                        "quote cells that hold a comma")
            continue
        row = dict(zip(names, (c.strip() for c in cells), strict=True))
        item = held.get(row["item_id"])
        if item is None or row["item_id"] in seen:
            checked.add(line, "item_id", f"'{row['item_id']}' is not held for review" if item is None else
                        f"'{row['item_id']}' appears twice (first on line {seen[row['item_id']]})",
                        "list what is held with --list" if item is None else "keep one row per item")
            continue
        seen[row["item_id"]] = line
        decision = row["decision"].casefold()
        if decision and decision not in IMPORTED:
            checked.add(line, "decision", f"'{row['decision']}' is not a decision",
                        "write accept or discard, or leave it empty to keep the item held")
        elif decision == "discard":
            checked.decisions.append((item, "discard", None))
        elif decision == "accept":
            _check_values(row, line, item, schema, fields, checked)
    return checked


def import_csv(settings: Settings, project: ProjectSpec, ledger: Ledger, crew: str, path: Path,
               reviewer: str) -> int:
    """Apply the file's decisions, all or none: bad rows exit 2 before anything is landed."""
    from etlcrew.pipeline.review_queue import decide, held_queue, readable_texts

    schema = project.crews[crew].output_schema
    assert schema is not None
    queue = held_queue(ledger, crew)
    checked = check_import(path, schema, queue)
    if checked.problems:
        raise ConfigError(checked.problems)
    files = {i: t.file for i, t in readable_texts(settings, project, crew).items()} if checked.decisions else {}
    counts = dict.fromkeys(("accept", "correct", "discard"), 0)
    for item, decision, final in checked.decisions:
        decide(settings, project, crew, ledger, item, decision, final, reviewer, files)
        counts[decision] += 1
    left = len(queue) - len(checked.decisions)
    console.info(f"applied {len(checked.decisions)} decisions ({counts['accept']} accepted, {counts['correct']} "
                 f"corrected, {counts['discard']} discarded); {left} still held")
    return EXIT_OK
