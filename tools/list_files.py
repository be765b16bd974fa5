"""Built-in tool: list files in a folder the crew declares, optionally by glob (``*.eml``, ``**/*.md``).

Results are the files ``read_file`` would read (``ToolScope.readable``: regular, one name, inside a declared folder
with symlinks followed), as project-relative paths.
"""

from __future__ import annotations

from pathlib import Path

from crewai.tools import BaseTool
from etlcrew.tools.data_wrapping import ToolError, wrap_output
from etlcrew.tools.scope import ToolScope, ToolScopeError, current_scope
from pydantic import BaseModel, Field

MAX_FILES = 200


class ListFilesInput(BaseModel):
    folder: str = Field(default="", description="declared folder, e.g. 'data/inbox'; empty for the crew's first")
    pattern: str = Field(default="*", description="glob pattern, e.g. '*.eml' or '**/*.md'")


def list_matching(scope: ToolScope, folder: str, pattern: str) -> list[str]:
    """Files under ``folder`` matching ``pattern``, inside the scope, sorted, at most ``MAX_FILES``."""
    if not pattern.strip() or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise ToolScopeError(f"pattern {pattern!r} must be a relative glob without '..', e.g. '*.txt'")
    base = scope.resolve_dir(folder)
    found: list[str] = []
    for path in sorted(base.glob(pattern)):
        if not scope.readable(path):
            continue
        found.append(str(path.relative_to(scope.base_dir)) if path.is_relative_to(scope.base_dir) else str(path))
        if len(found) >= MAX_FILES:
            break
    return found


class ListFilesTool(BaseTool):
    name: str = "list_files"
    description: str = "List the files in a folder this crew reads (a glob pattern narrows the list)."
    args_schema: type[BaseModel] = ListFilesInput

    def _run(self, folder: str = "", pattern: str = "*") -> str:
        try:
            scope = current_scope()
            files = list_matching(scope, folder, pattern)
        except ToolScopeError as exc:
            return ToolError.of(exc)
        text = "\n".join(files) if files else f"no files match {pattern!r}"
        if len(files) >= MAX_FILES:
            text += f"\n[... stopped at {MAX_FILES} files; narrow the pattern]"
        return wrap_output(text, scope.tag)
