"""Load ``config/*.yaml`` into validated specs, collecting every problem with its file, line and fix.

Pydantic errors are translated into ``ConfigProblem``s: an unknown key gets a did-you-mean, a wrong type names
the entry and the key, a YAML syntax error gives the line. Cross-file checks live in ``references``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from etlcrew.errors import ConfigError, ConfigProblem
from etlcrew.specs.did_you_mean import suggest
from etlcrew.specs.models import AgentSpec, TaskSpec
from etlcrew.specs.project import CONFIG_FILES, ENTRY_WORD, ProjectSpec
from etlcrew.specs.yaml_source import YamlDocument, YamlSyntaxError, load_yaml_file


def _field_names(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        if name == "crewai_options":
            continue
        names.add(info.alias or name)
    return names


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """Keys allowed at ``loc`` inside an entry (only the top level and simple nesting are known)."""
    from etlcrew.specs.models import CREWAI_AGENT_PASSTHROUGH, CREWAI_TASK_PASSTHROUGH

    if len(loc) <= 1:
        extra = {AgentSpec: CREWAI_AGENT_PASSTHROUGH, TaskSpec: CREWAI_TASK_PASSTHROUGH}.get(model, frozenset())
        return _field_names(model) | set(extra)
    info = model.model_fields.get(str(loc[0]))
    from etlcrew.specs import datapath

    candidates: list[type[BaseModel]] = []
    if info is not None and loc[0] == "sources" and not (len(loc) >= 4 and loc[2] == "pagination"):
        candidates = [datapath.FilesSource, datapath.SqlSource, datapath.HttpSource]
    elif info is not None and loc[0] == "targets":
        candidates = [datapath.DatabaseTarget, datapath.FileTarget, datapath.ReportTarget, datapath.WebhookTarget,
                      datapath.NotifyTarget]
    elif loc[0] in ("schema", "output_schema") and len(loc) >= 4 and loc[1] == "fields":
        candidates = [datapath.FieldSpec]
    elif loc[0] in ("schema", "output_schema") and len(loc) >= 4 and loc[1] == "examples":
        candidates = [datapath.ExampleSpec]
    elif loc[0] in ("schema", "output_schema"):
        candidates = [datapath.SchemaSpec]
    elif loc[0] == "sources" and len(loc) >= 4 and loc[2] == "pagination":
        candidates = [datapath.Pagination]
    elif info is not None and isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
        candidates = [info.annotation]  # a nested block such as retry: or budget:
    tagged = [c for c in candidates if len(loc) > 2 and loc[2] in _type_tags(c)]
    keys: set[str] = set()
    for candidate in tagged or candidates:  # an entry whose type is known: only that type's keys
        keys |= _field_names(candidate)
    return keys


def _shown(value: object) -> str:
    """A value for a message: short scalars as written; never a Python dict or list (a whole schema)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_tags(model: type[BaseModel]) -> set[str]:
    """The ``type:`` values that select ``model`` in a union (pydantic puts them in error locations)."""
    info = model.model_fields.get("type")
    return set(getattr(info.annotation, "__args__", ())) if info is not None else set()


def _readable_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union tags (``files``, ``function-after[...]``) so the path matches the YAML."""
    cleaned = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in {"files", "sql", "http", "duckdb", "sqlite", "dlt",
                                                               "jsonl", "parquet", "report", "webhook",
                                                               "notify"}):
            continue
        cleaned.append("schema" if part == "output_schema" else part)
    return tuple(cleaned)


def _problems_from(exc: ValidationError, kind: str, entry: str, doc: YamlDocument,
                   file: str, model: type[BaseModel]) -> list[ConfigProblem]:
    word = ENTRY_WORD[kind]
    problems = []
    for err in exc.errors():
        raw_loc = tuple(err["loc"])
        loc = _readable_loc(raw_loc)
        dotted = ".".join(str(p) for p in loc)
        line = doc.line_of((entry, *loc))
        hint = None
        if err["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            message = f"{word} '{entry}': unknown key '{dotted}'"
            guess = suggest(key, _allowed_keys(model, (*raw_loc[:-1], key)))
            hint = f"did you mean '{guess}'?" if guess else "remove it, or check the spelling"
        elif err["type"] == "missing":
            message = f"{word} '{entry}': missing required key '{dotted}'"
            hint = f"add '{loc[-1]}:' to {word} '{entry}'"
        elif err["type"] == "union_tag_invalid":
            given = err.get("input", {}).get("type") if isinstance(err.get("input"), dict) else None
            message = f"{word} '{entry}': '{dotted}' has an unknown type {_shown(given)}"
            hint = f"use one of: {err['ctx']['expected_tags']}"
        elif err["type"] == "literal_error":
            message = f"{word} '{entry}': '{dotted}' is {_shown(err['input'])}"
            hint = f"use one of: {err['ctx']['expected']}"
        else:
            got = "" if isinstance(err.get("input"), dict | list) else f" (got {_shown(err.get('input'))})"
            message = f"{word} '{entry}': key '{dotted}': {err['msg'].removeprefix('Value error, ')}{got}"
        problems.append(ConfigProblem(file, message, line, entry, dotted or None, hint))
    return problems


def _load_kind(config_dir: Path, kind: str, spec: ProjectSpec, problems: list[ConfigProblem]) -> None:
    filename, model = CONFIG_FILES[kind]
    path = config_dir / filename
    shown = f"{config_dir.name}/{filename}"
    if not path.is_file():
        problems.append(ConfigProblem(shown, "file is missing", hint=f"create {path} (see README: Configuration)"))
        return
    try:
        doc = load_yaml_file(path)
    except YamlSyntaxError as exc:
        problems.append(exc.as_problem(shown))
        return
    spec.documents[kind] = doc
    for dup_path, first, second in doc.duplicates:
        what = ENTRY_WORD[kind] if len(dup_path) == 1 else "key"
        problems.append(ConfigProblem(
            shown, f"duplicate {what} '{'.'.join(map(str, dup_path))}' (first defined at line {first})", second,
            entry=str(dup_path[0]), hint="rename or remove one of them"))
    data = doc.data
    if data is None:
        problems.append(ConfigProblem(shown, f"no {kind} defined", hint=f"add at least one {ENTRY_WORD[kind]}"))
        return
    if not isinstance(data, dict):
        problems.append(ConfigProblem(shown, f"expected a mapping of {ENTRY_WORD[kind]} names, got "
                                      f"{type(data).__name__}", 1, hint="see the shipped config for the shape"))
        return
    target: dict[str, Any] = getattr(spec, kind)
    for name, body in data.items():
        name = str(name)
        if not isinstance(body, dict):
            problems.append(ConfigProblem(shown, f"{ENTRY_WORD[kind]} '{name}' must be a mapping of keys",
                                          doc.line_of((name,)), name))
            continue
        try:
            target[name] = model.model_validate(body)
        except ValidationError as exc:
            problems.extend(_problems_from(exc, kind, name, doc, shown, model))


def collect_project(config_dir: Path, tool_names: set[str] | None = None,
                    check_references: bool = True) -> tuple[ProjectSpec, list[ConfigProblem]]:
    """The project as far as it loads, and every problem found (cross-file checks once each entry is valid)."""
    spec = ProjectSpec(config_dir=config_dir)
    problems: list[ConfigProblem] = []
    if not config_dir.is_dir():
        raise ConfigError([ConfigProblem(str(config_dir), "config directory not found",
                                         hint="run from the project directory or set ETLCREW_CONFIG_DIR")])
    for kind in CONFIG_FILES:
        _load_kind(config_dir, kind, spec, problems)
    entries_valid = not problems  # else a name that failed its schema would read as "unknown" everywhere
    from etlcrew.specs.names import check_names

    problems.extend(check_names(spec))
    if check_references and entries_valid:
        from etlcrew.specs.references import check_references as check
        from etlcrew.specs.runnable import check_crews

        problems.extend(check(spec, tool_names))
        problems.extend(check_crews(spec))
    return spec, problems


def load_project(config_dir: Path, tool_names: set[str] | None = None, check_references: bool = True) -> ProjectSpec:
    """Load and validate the three config files; raise ``ConfigError`` with every problem found."""
    spec, problems = collect_project(config_dir, tool_names, check_references)
    if problems:
        raise ConfigError(problems)
    return spec
