"""A user's tool, dropped into the project's tools/ folder."""

from crewai.tools import BaseTool
from etlcrew.tools.data_wrapping import ToolError, wrap_output
from etlcrew.tools.scope import ToolScopeError, current_scope
from pydantic import BaseModel, Field


class WordCountInput(BaseModel):
    path: str = Field(description="a file the crew reads")


class WordCountTool(BaseTool):
    name: str = "word_count"
    description: str = "Count the words of a file the crew reads."
    args_schema: type[BaseModel] = WordCountInput

    def _run(self, path: str) -> str:
        try:
            scope = current_scope()
            text = scope.read_bytes(path).decode("utf-8")
        except ToolScopeError as exc:
            return ToolError.of(exc)
        return wrap_output(f"WORDS={len(text.split())}", scope.tag)
