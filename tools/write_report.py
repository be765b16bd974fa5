"""Built-in tool: write a Markdown file under the crew's output folders (the output directory, its targets').

Only ``.md`` files, so a tool can never overwrite a crew's database or records; the path checks are the scope's.
"""

from __future__ import annotations

from crewai.tools import BaseTool
from etlcrew.tools.data_wrapping import ToolError
from etlcrew.tools.scope import ToolScopeError, current_scope
from pydantic import BaseModel, Field

MAX_CHARS = 200_000


class WriteReportInput(BaseModel):
    path: str = Field(description="Markdown file under the output folder, e.g. 'support_inbox-digest.md'")
    content: str = Field(description="the Markdown text to write (replaces the file)", max_length=MAX_CHARS)


class WriteReportTool(BaseTool):
    name: str = "write_report"
    description: str = "Write a Markdown report (a .md file) into this crew's output folder."
    args_schema: type[BaseModel] = WriteReportInput

    def _run(self, path: str, content: str) -> str:
        try:
            scope = current_scope()
            scope.resolve_write(path)  # where it would go first: an escape is reported as such
            if not path.strip().lower().endswith(".md"):
                raise ToolScopeError(f"path {path!r} must name a Markdown file ending in .md")
            written = scope.write_text(path, content)
        except ToolScopeError as exc:
            return ToolError.of(exc)
        shown = written.relative_to(scope.base_dir) if written.is_relative_to(scope.base_dir) else written
        return f"wrote {len(content)} characters to {shown}"
