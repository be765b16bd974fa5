"""Read a YAML file keeping what error messages need: the line of every key, and duplicate keys.

PyYAML silently keeps the last of two equal keys; a duplicated agent name would then vanish without a word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is several times faster; fall back when libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the wheel
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[Any, ...]


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
    """A file is not valid YAML; ``line`` is 1-based."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.line = line
        self.problem = problem


def _index(node: yaml.Node, path: Path_, doc: YamlDocument) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                doc.duplicates.append(((*path, key), seen[key], line))
            seen[key] = line
            doc.lines[(*path, key)] = line
            _index(value_node, (*path, key), doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            doc.lines[(*path, i)] = child.start_mark.line + 1
            _index(child, (*path, i), doc)


def load_yaml_text(text: str, path: Path) -> YamlDocument:
    """Parse ``text`` (from ``path``) into data plus a line index."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlSyntaxError(path, line, str(exc.problem or exc.context or exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(path, None, str(exc)) from exc
    doc = YamlDocument(path=path, data=data)
    if node is not None:
        _index(node, (), doc)
    return doc


def load_yaml_file(path: Path) -> YamlDocument:
    """Read and parse one file; undecodable bytes are a syntax error, not a crash."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return load_yaml_text(text, path)
