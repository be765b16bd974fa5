"""Built-in tool: read one text file under the folders the crew declares (its ``files`` sources, data/reference).

Written like a user's tool (a ``BaseTool`` with a pydantic ``args_schema``), so the registry finds it the same
way; the path checks are the scope's (``tools.scope``): no ``..`` or symlink escapes, regular files, size-capped.
"""

from __future__ import annotations

from crewai.tools import BaseTool
from etlcrew.tools.data_wrapping import ToolError, wrap_output
from etlcrew.tools.scope import ToolScopeError, current_scope
from pydantic import BaseModel, Field

MAX_CHARS = 20_000


class ReadFileInput(BaseModel):
    path: str = Field(description="file to read, e.g. 'data/inbox/0001-double-charge.eml' (or a bare file name)")
    max_chars: int = Field(default=8_000, ge=1, le=MAX_CHARS, description="characters to return at most")


class ReadFileTool(BaseTool):
    name: str = "read_file"
    description: str = "Read a text file from the folders this crew reads (its sources and data/reference)."
    args_schema: type[BaseModel] = ReadFileInput

    def _run(self, path: str, max_chars: int = 8_000) -> str:
        try:
            scope = current_scope()
            data = scope.read_bytes(path)
        except ToolScopeError as exc:
            return ToolError.of(exc)
        text = data.decode("utf-8", errors="replace")
        if len(text) > max_chars:
            text = text[:max_chars] + f"\n[... cut at {max_chars} of {len(text)} characters]"
        return wrap_output(text, scope.tag)
