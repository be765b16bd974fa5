"""Read a labels CSV: one row per item, the expected value of some schema fields, checked before any scoring.

Every problem in the file is counted, and the first ``MAX_PROBLEMS`` are reported at once with their line plus
the total, so a user fixes the labels in one pass. Values are checked with the grammar scoring compares with, so
a label that reads is a label that can be compared.

Linear in the file's size, in time and memory: the file is read as a stream of rows (only the labels kept), and a
did-you-mean (``difflib``, costly against many item ids) is worked out only for a problem that will be shown.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from etlcrew.errors import ConfigError, ConfigProblem
from etlcrew.evaluation.values import parse_boolean, parse_number
from etlcrew.invocation import command
from etlcrew.specs.datapath import FieldSpec, SchemaSpec

KEY_COLUMNS = ("item_id", "file")
ACTION_COLUMN = "needs_action"  # true/false: the item belongs in the run's action list (data/README.md)
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class LabelSet:
    """The expected values of a labels file, keyed by full item id; blank cells are absent (not checked)."""

    file: str
    key_column: str
    fields: tuple[str, ...]
    expected: dict[str, dict[str, str]]
    lines: dict[str, int]
    actions: dict[str, bool] = field(default_factory=dict)  # item_id -> needs_action, when the file has the column


Hint = str | Callable[[], str | None] | None  # a callable is worked out only for a problem that is shown


class _Problems:
    """Counts the problems of one file, keeping the first ``MAX_PROBLEMS``."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.found: list[ConfigProblem] = []
        self.total = 0

    def add(self, message: str, line: int | None, key: str | None = None, hint: Hint = None) -> None:
        self.total += 1
        if len(self.found) < MAX_PROBLEMS:
            text = hint() if callable(hint) else hint
            self.found.append(ConfigProblem(self.file, message, line, key=key, hint=text))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        shown = list(self.found)
        if self.total > len(shown):
            shown.append(ConfigProblem(self.file, f"{self.total:,} problems in all; the first {len(self.found)} "
                                       "are shown", hint=f"fix these and check again ({command('validate')})"))
        raise ConfigError(shown)


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None


def _open(path: Path, shown_as: str) -> Iterator[str]:
    """The file's lines, read as a stream; a byte-order mark (spreadsheets write one) is dropped."""
    try:
        file = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(shown_as, "the labels file is missing", hint=(
            "create it: a header with item_id or file, then one column per field to check"))]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(shown_as, f"the labels file cannot be read: {exc.strerror or exc}",
                                         hint="check that the path names a readable file")]) from None
    with file:
        try:
            yield from file
        except UnicodeDecodeError:
            raise _not_utf8(path, shown_as) from None


def _not_utf8(path: Path, shown_as: str) -> ConfigError:
    """Where the first byte that is not UTF-8 is (read again in blocks, only when there is one)."""
    import codecs

    decoder, line = codecs.getincrementaldecoder("utf-8")(), 1
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block[: max(exc.start, 0)].count(b"\n")
                break
            line += block.count(b"\n")
    return ConfigError([ConfigProblem(shown_as, f"the labels file is not UTF-8 text (first bad byte on line {line})",
                                      hint="save it as UTF-8 (in a spreadsheet: 'CSV UTF-8')")])


def _rows(lines: Iterator[str], problems: _Problems) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line each starts on (a quoted cell may span lines), one at a time."""
    reader = csv.reader(lines, skipinitialspace=True)
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                yield start, cells
    except csv.Error as exc:
        problems.add(f"not valid CSV: {exc}", reader.line_num,
                     hint="wrap a cell holding a comma, quote or line break in double quotes")
        problems.raise_if_any()


def _labelable(schema: SchemaSpec) -> list[str]:
    return [name for name, spec in schema.fields.items() if spec.type != "list"]


def _header(names: list[str], line: int, schema: SchemaSpec, problems: _Problems) -> tuple[str | None, dict[int, str]]:
    """The key column and the label columns by index; every other column is a problem."""
    key_column = next((k for k in KEY_COLUMNS if k in names and k not in schema.fields), None)
    if key_column is None:
        problems.add("no key column: the header has neither item_id nor file", line,
                     hint="add an item_id column (full item ids) or a file column (file names)")
    columns: dict[int, str] = {}
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not name:
            problems.add(f"column {index + 1} has no name", line, hint="name it after a schema field or remove it")
        elif name in seen:
            problems.add(f"column '{name}' appears twice in the header", line, key=name, hint="keep one of them")
        elif name == key_column or (name == ACTION_COLUMN and name not in schema.fields):
            pass
        elif name in schema.fields and schema.fields[name].type == "list":
            problems.add(f"column '{name}' is a list field, which cannot be labelled", line, key=name,
                         hint="remove the column")
        elif name in schema.fields:
            columns[index] = name
        elif name in KEY_COLUMNS:
            problems.add(f"column '{name}' is not a field of table '{schema.table}'", line, key=name,
                         hint=f"the key column is {key_column}; remove the {name} column")
        else:
            hint = _did_you_mean(name, [*_labelable(schema), *KEY_COLUMNS])
            problems.add(f"column '{name}' is not a field of table '{schema.table}'", line, key=name,
                         hint=hint or f"the fields are: {', '.join(_labelable(schema))}")
        seen.add(name)
    return key_column, columns


def _enum_hint(value: str, values: list[str]) -> str | None:
    folded = [v for v in values if v.casefold() == value.casefold()]
    return f"did you mean '{folded[0]}'?" if folded else _did_you_mean(value, values)


def _value_problem(spec: FieldSpec, value: str) -> tuple[str, Hint] | None:
    """Why ``value`` cannot be a label of this field (message, hint), or None when it can."""
    if spec.type == "enum":
        values = spec.values or []
        if value in values:
            return None
        return f"'{value}' is not one of {', '.join(values)}", lambda: _enum_hint(value, values)
    parsers = {
        "integer": (int, "an integer", "write a whole number such as 3"),
        "number": (parse_number, "a number", "write a number such as 2.5, with a dot for decimals"),
        "boolean": (parse_boolean, "a boolean", "write true/false, yes/no or 1/0"),
        "date": (date.fromisoformat, "a date", "write an ISO date such as 2024-05-31"),
        "datetime": (datetime.fromisoformat, "a datetime", "write an ISO datetime such as 2024-05-31T14:30:00"),
    }
    if spec.type not in parsers:
        return None
    parse, what, hint = parsers[spec.type]
    try:
        parse(value)
    except ValueError:
        return f"'{value}' is not {what}", hint
    return None


class _Keys:
    """Turns a key cell into a full item id: as is for item_id, by file name for file."""

    def __init__(self, column: str, item_ids: Iterable[str]) -> None:
        self.column = column
        self.ids = list(dict.fromkeys(item_ids))
        self.known = set(self.ids)
        self.by_name: dict[str, list[str]] = {}
        for item_id in self.ids:
            key = item_id.split(":", 1)[-1]
            self.by_name.setdefault(key.replace("\\", "/").rsplit("/", 1)[-1], []).append(item_id)

    def resolve(self, raw: str, line: int, problems: _Problems) -> str | None:
        column = self.column
        if not raw:
            problems.add(f"column '{column}' is blank", line, key=column, hint="every row needs its item")
            return None
        if column == "item_id":
            if raw in self.known:
                return raw
            problems.add(f"column 'item_id': '{raw}' is not an item of the crew's sources", line, key=column,
                         hint=lambda: _did_you_mean(raw, self.ids) or (
                             f"item ids look like '{self.ids[0]}'" if self.ids else None))
            return None
        matches = self.by_name.get(raw, [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            problems.add(f"column 'file': '{raw}' matches {len(matches)} items ({', '.join(matches)})", line,
                         key=column, hint="use an item_id column with full item ids")
        else:
            problems.add(f"column 'file': '{raw}' matches no item of the crew's sources", line, key=column,
                         hint=lambda: _did_you_mean(raw, self.by_name)
                         or "check the file name against the source folder")
        return None


def read_labels(path: Path, shown_as: str, schema: SchemaSpec, item_ids: Iterable[str]) -> LabelSet:
    """Read and check a labels file against the schema and the items of the sources; raise every problem."""
    problems = _Problems(shown_as)
    rows = _rows(_open(path, shown_as), problems)
    first = next(rows, None)
    if first is None:
        raise ConfigError([ConfigProblem(shown_as, "the labels file is empty", 1,
                                         hint="add a header (item_id or file, then field names) and rows")])
    header_line, header = first
    names = [name.strip() for name in header]
    key_column, columns = _header(names, header_line, schema, problems)
    if key_column is None:
        raise ConfigError(problems.found)
    keys = _Keys(key_column, item_ids)
    action_index = names.index(ACTION_COLUMN) if ACTION_COLUMN in names and ACTION_COLUMN not in schema.fields \
        else None
    expected: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    actions: dict[str, bool] = {}
    has_rows = False
    for line, cells in rows:
        has_rows = True
        row = _read_row(line, cells, names, key_column, keys, columns, schema, problems, expected, lines)
        if row is not None and action_index is not None:
            needs_action = _needs_action(cells[action_index], line, problems)
            if needs_action is not None:
                actions[row] = needs_action
    if not has_rows:
        problems.add("the labels file has a header but no rows", header_line, hint="add one row per labelled item")
    problems.raise_if_any()
    fields = tuple(name for name in columns.values() if name in schema.fields)
    return LabelSet(shown_as, key_column, fields, expected, lines, actions)


def _read_row(line: int, cells: list[str], names: list[str], key_column: str, keys: _Keys, columns: dict[int, str],
              schema: SchemaSpec, problems: _Problems, expected: dict[str, dict[str, str]],
              lines: dict[str, int]) -> str | None:
    """One labelled row into ``expected`` and ``lines`` (its item id returned), or its problems (``None``)."""
    if len(cells) != len(names):
        problems.add(f"the row has {len(cells)} cells but the header has {len(names)} columns", line,
                     hint="quote cells that hold a comma; leave a cell empty rather than dropping it")
        return None
    key_index = names.index(key_column)
    item_id = keys.resolve(cells[key_index].strip(), line, problems)
    values = _row_values(cells, columns, schema, line, problems)
    if item_id is None:
        return None
    if item_id in expected:
        problems.add(f"column '{key_column}': '{cells[key_index].strip()}' is labelled twice "
                     f"(first on line {lines[item_id]})", line, key=key_column, hint="keep one row per item")
        return None
    expected[item_id], lines[item_id] = values, line
    return item_id


def _needs_action(cell: str, line: int, problems: _Problems) -> bool | None:
    """The row's ``needs_action`` label: true/false (yes/no, 1/0); blank is not labelled."""
    value = cell.strip()
    if not value:
        return None
    try:
        return parse_boolean(value)
    except ValueError:
        problems.add(f"column '{ACTION_COLUMN}': '{value}' is not true or false", line, key=ACTION_COLUMN,
                     hint="write true when support must act today (data/README.md), else false")
        return None


def _row_values(cells: list[str], columns: dict[int, str], schema: SchemaSpec, line: int,
                problems: _Problems) -> dict[str, str]:
    """The row's non-blank label values; a value the field cannot hold is a problem."""
    values: dict[str, str] = {}
    for index, name in columns.items():
        value = cells[index].strip()
        if not value:
            continue
        spec = schema.fields[name] if name in schema.fields else FieldSpec(type="boolean")
        problem = _value_problem(spec, value)
        if problem:
            problems.add(f"column '{name}': {problem[0]}", line, key=name, hint=problem[1])
        else:
            values[name] = value
    return values
