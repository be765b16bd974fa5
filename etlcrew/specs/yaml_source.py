"""Read a YAML file keeping what error messages need: the line of every key, and duplicate keys.

PyYAML silently keeps the last of two equal keys; a duplicated agent name would then vanish without a word.
Aliases (``*name``) share one node, so the line index visits each node once; a document whose aliases would
expand to an absurd size (the "billion laughs" bomb) is refused before anything is built from it. A long list
written out (no aliases) is read, whatever its length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from etlcrew.errors import ConfigError, ConfigProblem

try:  # the C loader is several times faster; fall back when libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the wheel
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[Any, ...]

# Nodes a document's aliases may add once expanded: the shipped config has about 700 nodes and no alias, and
# pydantic walks the expanded form, so a few hundred thousand is already minutes of work.
MAX_EXPANDED_NODES = 100_000
_VALUE_QUOTE = re.compile(r"^\s*(?:-\s+)?(?:[^\s:#'\"][^:#]*?:\s+)?(['\"])(.*)$")
_KEY_AT_LINE = re.compile(r"^\s*(?:-\s+)*([^\s:#'\"{}\[\],][^:#]*?)\s*:(?:\s|$)")


@dataclass
class YamlDocument:
    """The data of one YAML file, the line (1-based) of each path inside it, and duplicate keys found."""

    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicates: list[tuple[Path_, int, int]] = field(default_factory=list)

    def line_of(self, path: Path_) -> int | None:
        """Line of ``path``, or of its nearest parent that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class YamlSyntaxError(Exception):
    """A file is not valid YAML (or not a sane one); ``line`` is 1-based, ``hint`` says how to fix it."""

    def __init__(self, path: Path, line: int | None, problem: str, hint: str | None = None) -> None:
        super().__init__(problem)
        self.path = path
        self.line = line
        self.problem = problem
        self.hint = hint

    def as_problem(self, shown: str) -> ConfigProblem:
        """The config problem to report for the file shown as ``shown`` (``config/crews.yaml``)."""
        return ConfigProblem(shown, f"invalid YAML: {self.problem}", self.line,
                             hint=self.hint or "fix the syntax at that line (indentation, quotes, colons)")


def expanded_size(root: yaml.Node, path: Path, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes ``root`` stands for with every alias expanded, each shared node counted once per use but
    computed once. Aliases adding more than ``limit`` nodes to what is written, or an alias inside itself, is a
    ``YamlSyntaxError``; a document without aliases is never refused, however long (it costs what it weighs).

    A node's expanded size minus the distinct nodes seen so far is at most what aliases added inside it, so the
    refusal is always true; a bomb is caught after a few thousand distinct nodes."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            if id(node) in open_nodes:
                raise YamlSyntaxError(path, node.start_mark.line + 1, "an alias refers to the block that holds it "
                                      "(a recursive &anchor)", "write the value out instead of the alias")
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        open_nodes.discard(id(node))
        sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
        if sizes[id(node)] > limit + len(sizes):
            raise YamlSyntaxError(path, node.start_mark.line + 1, f"its aliases (*name) expand to more than "
                                  f"{limit:,} values", "write the values out, or use far fewer nested aliases")
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _index(root: yaml.Node, doc: YamlDocument) -> None:
    """Line of every key and list entry, each node visited once (an alias's content keeps its anchor's lines)."""
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            children: list[tuple[yaml.Node, Path_]] = []
            for key_node, value_node in node.value:
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in seen:
                    doc.duplicates.append(((*path, key), seen[key], line))
                seen[key] = line
                doc.lines[(*path, key)] = line
                children.append((value_node, (*path, key)))
            stack.extend(reversed(children))  # document order: an anchor is indexed where it is written
        elif isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                doc.lines[(*path, i)] = child.start_mark.line + 1
            stack.extend(reversed([(child, (*path, i)) for i, child in enumerate(node.value)]))


def _unclosed_quote_line(lines: list[str], upto: int) -> int | None:
    """The last line up to ``upto`` (1-based) that opens a quote it does not close, when closing it there lets
    the parser get past ``upto`` (so a valid quoted value spanning lines is never blamed)."""
    for number in range(min(upto, len(lines)), 0, -1):
        match = _VALUE_QUOTE.match(lines[number - 1])
        if not match:
            continue
        quote, rest = match.group(1), match.group(2)
        closed = rest.replace(quote * 2, "") if quote == "'" else rest.replace('\\"', "")
        if quote in closed:
            continue
        patched = [*lines[: number - 1], lines[number - 1].rstrip() + quote, *lines[number:]]
        return number if _parses_past(patched, upto) else None
    return None


def _parses_past(lines: list[str], line: int) -> bool:
    loader = _Loader("\n".join(lines) + "\n")
    try:
        loader.get_single_node()
        return True
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return mark is not None and mark.line + 1 > line
    except yaml.YAMLError:
        return False
    finally:
        loader.dispose()


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, path: Path) -> YamlSyntaxError:
    """Where the broken construct starts (an unclosed quote's opening line, not where the parser gave up), with
    the key written on that line."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = str(exc.problem or exc.context or exc)
    lines = text.splitlines()
    opened = _unclosed_quote_line(lines, line or len(lines))
    if opened is not None:
        line, problem = opened, "a quoted value is not closed (its closing quote is missing)"
    key = _KEY_AT_LINE.match(lines[line - 1]) if line and line <= len(lines) else None
    if key:
        problem += f", at key '{key.group(1)}'"
    return YamlSyntaxError(path, line, problem)


def load_yaml_text(text: str, path: Path) -> YamlDocument:
    """Parse ``text`` (from ``path``) into data plus a line index; the node tree is composed once."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            expanded_size(node, path)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, path) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(path, None, str(exc)) from exc
    finally:
        loader.dispose()
    doc = YamlDocument(path=path, data=data)
    if node is not None:
        _index(node, doc)
    return doc


def load_yaml_file(path: Path) -> YamlDocument:
    """Read and parse one file; undecodable bytes are a syntax error, not a crash."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return load_yaml_text(text, path)


def read_config_yaml(path: Path) -> YamlDocument:
    """``load_yaml_file`` for a file of ``config/``: a broken file is a ``ConfigError`` (exit 2) naming it."""
    try:
        return load_yaml_file(path)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.as_problem(f"{path.parent.name}/{path.name}")]) from None
