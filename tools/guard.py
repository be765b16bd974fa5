"""Confine tools we did not write (crewai-tools' file and web tools) to the crew's scope, by their arguments.

crewai-tools' ``FileReadTool``, ``DirectoryReadTool``, ``FileWriterTool``, ``ScrapeWebsiteTool`` and the search
tools read any path or URL they are given. Before such a tool runs, every argument that names a path is checked
with the crew's ``ToolScope`` (read, or write for writer tools) and every URL with its hosts; a refusal is
returned to the model as ``error: ...``, as our own tools do. Their output is wrapped as data like ours.
"""

from __future__ import annotations

from typing import Any

PATH_ARGS = ("file_path", "file", "path", "directory", "directory_path", "csv", "json_path", "txt", "mdx", "pdf")
URL_ARGS = ("website_url", "url")
WRITE_TOOLS = ("FileWriterTool",)


def check_arguments(tool_name: str, arguments: dict[str, Any]) -> None:
    """Raise ``ToolScopeError`` when an argument points outside the crew's declared folders or hosts."""
    from etlcrew.tools.scope import current_scope

    scope = current_scope()
    for key, value in arguments.items():
        if not isinstance(value, str) or not value:
            continue
        if key in URL_ARGS:
            scope.check_host(value)
        elif key in PATH_ARGS:
            if tool_name in WRITE_TOOLS:
                scope.resolve_write(value if key != "directory" else value.rstrip("/") + "/.probe")
            elif key.startswith("directory"):
                scope.resolve_dir(value)
            else:
                scope.resolve_read(value)


def guard(tool: Any) -> Any:
    """The same tool instance, its ``_run`` checking arguments first and wrapping output as data."""
    from etlcrew.tools.data_wrapping import ToolError, wrap_output
    from etlcrew.tools.scope import ToolScopeError, current_scope

    original = tool._run
    name = type(tool).__name__

    def _run(*args: Any, **kwargs: Any) -> Any:
        try:
            check_arguments(name, kwargs)
        except ToolScopeError as exc:
            return ToolError.of(exc)
        return wrap_output(str(original(*args, **kwargs)), current_scope().tag)

    object.__setattr__(tool, "_run", _run)
    return tool
