"""Tools we did not write (crewai-tools) are held to the crew's scope by their path and URL arguments."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def reader(scripted):  # type: ignore[no-untyped-def]
    """A stand-in shaped like crewai-tools' FileReadTool: it reads whatever ``file_path`` it is given."""
    from crewai.tools import BaseTool
    from etlcrew.tools.guard import guard

    class FileReadTool(BaseTool):
        name: str = "Read a file's content"
        description: str = "reads any file"

        def _run(self, file_path: str) -> str:
            return Path(file_path).read_text()

    return guard(FileReadTool())


def test_paths_outside_the_scope_are_refused_inside_are_read_as_data(reader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.tools.scope import ToolScope, use_scope

    inside = tmp_path / "data" / "note.txt"
    inside.parent.mkdir()
    inside.write_text("hello")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    scope = ToolScope(read_roots=(inside.parent,), sql_urls=(), http_hosts=(), write_roots=(tmp_path / "out",))
    with use_scope(scope):
        out = reader._run(file_path=str(inside))
        assert "hello" in out and f"tool-output-{scope.tag}" in out
        for escape in (str(secret), str(inside.parent / ".." / "secret.txt"), "/etc/passwd"):
            refused = reader._run(file_path=escape)
            assert refused.startswith("error:") and "top secret" not in refused and "root:" not in refused


def test_urls_must_be_declared_hosts(scripted) -> None:  # type: ignore[no-untyped-def]
    from etlcrew.tools.guard import check_arguments
    from etlcrew.tools.scope import ToolScope, ToolScopeError, use_scope

    scope = ToolScope(read_roots=(), sql_urls=(), http_hosts=("127.0.0.1:8080",), write_roots=())
    with use_scope(scope):
        check_arguments("ScrapeWebsiteTool", {"website_url": "http://127.0.0.1:8080/page"})
        with pytest.raises(ToolScopeError):
            check_arguments("ScrapeWebsiteTool", {"website_url": "http://169.254.169.254/latest/meta-data"})
