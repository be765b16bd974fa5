"""The tiny condition language of a webhook's ``when``, parsed by hand and never ``eval``-ed.

Grammar (``and`` binds tighter than ``or``; parentheses group)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := term ("and" term)*
    term       := "not" term | "(" expr ")" | comparison
    comparison := FIELD ("==" | "!=" | "<" | "<=" | ">" | ">=") LITERAL
                | FIELD ["not"] "in" "[" LITERAL ("," LITERAL)* "]"
    LITERAL    := 'text' | "text" | number | true | false | null

A field missing from the record compares as ``null``; an ordering (``<``, ``<=``, ``>``, ``>=``) is false unless
both sides are numbers (a graph route's ``confidence < 0.5``). Anything else (calls, attributes, arithmetic) is
an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

Condition = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in"}
_LITERAL_WORDS = {"true": True, "false": False, "null": None}


class ConditionError(ValueError):
    """A ``when`` condition that is not in the language; the message says where."""


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise ConditionError(f"unexpected {text[pos:].strip()[:20]!r} at position {pos} in {text!r}")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "str":
            tokens.append(("lit", re.sub(r"\\(.)", r"\1", value[1:-1])))
        elif kind == "num":
            tokens.append(("lit", float(value) if "." in value else int(value)))
        elif kind == "word" and value in _LITERAL_WORDS:
            tokens.append(("lit", _LITERAL_WORDS[value]))
        elif kind == "word":
            tokens.append(("kw" if value in _KEYWORDS else "field", value))
        else:
            tokens.append(("op", value))
    return tokens


class _Parser:
    def __init__(self, text: str, fields: set[str] | None) -> None:
        self.text, self.fields = text, fields
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str, value: Any = None) -> Any:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            found = "the end" if token is None else repr(token[1])
            wanted = repr(value) if value is not None else {"lit": "a value", "field": "a field name"}.get(kind, kind)
            raise ConditionError(f"expected {wanted} but found {found} in {self.text!r}")
        self.pos += 1
        return token[1]

    def accept(self, kind: str, value: Any) -> bool:
        if self.peek() == (kind, value):
            self.pos += 1
            return True
        return False

    def parse(self) -> Condition:
        cond = self.expr()
        if self.peek() is not None:
            raise ConditionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return cond

    def expr(self) -> Condition:
        parts = [self.and_expr()]
        while self.accept("kw", "or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda r, ps=tuple(parts): any(p(r) for p in ps))

    def and_expr(self) -> Condition:
        parts = [self.term()]
        while self.accept("kw", "and"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda r, ps=tuple(parts): all(p(r) for p in ps))

    def term(self) -> Condition:
        if self.accept("kw", "not"):
            inner = self.term()
            return lambda r: not inner(r)
        if self.accept("op", "("):
            inner = self.expr()
            self.take("op", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        name = self.take("field")
        if self.fields is not None and name not in self.fields:
            raise ConditionError(f"unknown field {name!r} in {self.text!r} (fields: {', '.join(sorted(self.fields))})")
        if self.accept("op", "=="):
            value = self.take("lit")
            return lambda r: _equal(r.get(name), value)
        if self.accept("op", "!="):
            value = self.take("lit")
            return lambda r: not _equal(r.get(name), value)
        for op, test in _ORDER.items():
            if self.accept("op", op):
                value = self.take("lit")
                return lambda r, test=test: _ordered(r.get(name), value, test)
        negate = self.accept("kw", "not")
        self.take("kw", "in")
        values = self.literal_list()
        return lambda r: _contains(r.get(name), values) != negate

    def literal_list(self) -> tuple[Any, ...]:
        self.take("op", "[")
        values = [self.take("lit")]
        while self.accept("op", ","):
            values.append(self.take("lit"))
        self.take("op", "]")
        return tuple(values)


_ORDER: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def _ordered(actual: Any, expected: Any, test: Callable[[float, float], bool]) -> bool:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (actual, expected))
    return numbers and test(actual, expected)


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return actual == expected


def _contains(actual: Any, values: Iterable[Any]) -> bool:
    if isinstance(actual, list):  # a list field matches when any of its items is listed
        return any(_contains(a, values) for a in actual)
    return any(_equal(actual, v) for v in values)


def parse_condition(text: str, fields: Iterable[str] | None = None) -> Condition:
    """Compile ``text`` to a predicate over a record; ``fields`` (if given) are the names it may use."""
    if not text or not text.strip():
        raise ConditionError("empty condition")
    return _Parser(text, set(fields) if fields is not None else None).parse()


def literals_by_field(text: str) -> dict[str, list[Any]]:
    """Field -> the literals it is compared with (``validate`` checks them against an enum's values)."""
    found: dict[str, list[Any]] = {}
    field: str | None = None
    for kind, value in _tokenize(text):
        if kind == "field":
            field = value
            found.setdefault(field, [])
        elif kind == "lit" and field is not None:
            found[field].append(value)
    return found
