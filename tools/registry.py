"""Find tools by reading ``tools/*.py`` (no import), and load one only when a crew needs it.

Discovery parses the files with ``ast`` so ``validate`` and ``list tools`` never import CrewAI (6-7 s). A tool is
a ``BaseTool`` subclass (its ``name``/``description`` class attributes and ``args_schema`` fields) or a function
decorated with ``@tool`` / ``@tool("name")``. Built-in tools live in this folder and go through the same path
as a user's. crewai-tools classes (``FileReadTool``...) can be named too; they are imported only when used.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etlcrew.invocation import install_hint

BUILTIN_DIR = Path(__file__).resolve().parent
_load_lock = threading.Lock()  # batches build crews concurrently; a half-executed module must not be seen
_NOT_TOOLS = {"__init__.py", "registry.py"}

# crewai-tools classes that need no credentials; imported lazily (crewai_tools costs ~10 s), and confined to the
# crew's scope by their arguments (tools/guard.py).
CREWAI_TOOLS = frozenset({
    "FileReadTool", "DirectoryReadTool", "CSVSearchTool", "JSONSearchTool", "TXTSearchTool", "MDXSearchTool",
    "DirectorySearchTool", "ScrapeWebsiteTool", "WebsiteSearchTool", "FileWriterTool",
})


@dataclass(frozen=True)
class ToolInfo:
    """What ``list tools`` shows and what ``load_tool`` needs: found statically, nothing imported."""

    name: str
    description: str
    origin: str
    symbol: str
    kind: str  # "class", "function" or "crewai_tools"
    args: tuple[str, ...] = ()
    path: Path | None = None


def _const(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _class_attrs(cls: ast.ClassDef) -> dict[str, ast.AST | None]:
    attrs: dict[str, ast.AST | None] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            attrs[stmt.target.id] = stmt.value
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    attrs[target.id] = stmt.value
    return attrs


def _is_base_tool(cls: ast.ClassDef) -> bool:
    for base in cls.bases:
        name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
        if name == "BaseTool":
            return True
    return False


def _schema_fields(tree: ast.Module, schema_name: str | None) -> tuple[str, ...]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == schema_name:
            return tuple(k for k, _ in _class_attrs(node).items() if not k.startswith("_") and k != "model_config")
    return ()


def _tool_decorator_name(func: ast.FunctionDef) -> tuple[bool, str | None]:
    for deco in func.decorator_list:
        if isinstance(deco, ast.Name) and deco.id == "tool":
            return True, None
        if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Name) and deco.func.id == "tool":
            return True, _const(deco.args[0]) if deco.args else None
    return False, None


def scan_file(path: Path, origin: str) -> list[ToolInfo]:
    """The tools declared in one file; a file that does not parse declares none (``validate`` reports it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[ToolInfo] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and _is_base_tool(node):
            attrs = _class_attrs(node)
            schema = attrs.get("args_schema")
            schema_name = schema.id if isinstance(schema, ast.Name) else None
            name = _const(attrs.get("name")) or node.name
            description = _const(attrs.get("description")) or (ast.get_docstring(node) or "").split("\n")[0]
            found.append(ToolInfo(name, description.strip(), origin, node.name, "class",
                                  _schema_fields(tree, schema_name), path))
        elif isinstance(node, ast.FunctionDef):
            is_tool, explicit = _tool_decorator_name(node)
            if is_tool:
                doc = (ast.get_docstring(node) or "").strip().split("\n")[0]
                args = tuple(a.arg for a in node.args.args)
                found.append(ToolInfo(explicit or node.name, doc, origin, node.name, "function", args, path))
    return found


def tool_dirs(project_dir: Path) -> list[Path]:
    """The built-in folder, plus the project's own ``tools/`` when the project lives elsewhere."""
    dirs = [BUILTIN_DIR]
    own = (project_dir / "tools").resolve()
    if own.is_dir() and own != BUILTIN_DIR:
        dirs.append(own)
    return dirs


def discover(project_dir: Path) -> dict[str, ToolInfo]:
    """Every tool by name; a project's tool overrides a built-in of the same name."""
    tools: dict[str, ToolInfo] = {}
    for folder in tool_dirs(project_dir):
        label = "built-in" if folder == BUILTIN_DIR else "project"
        for path in sorted(folder.glob("*.py")):
            if path.name in _NOT_TOOLS or path.name.startswith("_") or path.name.startswith("test_"):
                continue
            try:
                infos = scan_file(path, f"{label}: {folder.name}/{path.name}")
            except SyntaxError:
                continue
            for info in infos:
                tools[info.name] = info
    if importlib.util.find_spec("crewai_tools") is None:  # the optional extra is not installed
        return tools
    for name in CREWAI_TOOLS:
        tools.setdefault(name, ToolInfo(name, "crewai-tools built-in (install the crewai-tools extra)",
                                        "crewai_tools", name, "crewai_tools"))
    return tools


def broken_tool_files(project_dir: Path) -> list[tuple[Path, SyntaxError]]:
    """Tool files that do not parse, for ``validate`` to report."""
    broken = []
    for folder in tool_dirs(project_dir):
        for path in sorted(folder.glob("*.py")):
            try:
                ast.parse(path.read_text(encoding="utf-8"))
            except SyntaxError as exc:
                broken.append((path, exc))
    return broken


def load_tool(info: ToolInfo) -> Any:
    """Import the tool's module (CrewAI must already be prepared) and return a ready tool instance."""
    if info.kind == "crewai_tools":
        try:
            import crewai_tools
        except ImportError as exc:
            from etlcrew.errors import ModelSetupError

            raise ModelSetupError(f"tool '{info.name}' needs crewai-tools",
                                  hint=install_hint("crewai-tools")) from exc
        from etlcrew.tools.guard import guard

        return guard(getattr(crewai_tools, info.symbol)())
    assert info.path is not None
    module_name = f"etlcrew_tool_{info.path.stem}"
    with _load_lock:
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, info.path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                from etlcrew.errors import ConfigError, ConfigProblem

                raise ConfigError([ConfigProblem(str(info.path.name), f"tool file fails to import: "
                                                 f"{type(exc).__name__}: {exc}", hint="fix the tool file")]) from exc
            sys.modules[module_name] = module
    obj = getattr(module, info.symbol)
    return obj() if info.kind == "class" else obj
