"""Built-in tool: one read-only SELECT on a database the crew declares as a ``sql`` source; rows as JSON.

The checks and the read-only connection are in ``tools.safe_sql``; the database must be one of the crew's
source URLs, written exactly as in ``crews.yaml``.
"""

from __future__ import annotations

import json

from crewai.tools import BaseTool
from etlcrew.tools.data_wrapping import ToolError, wrap_output
from etlcrew.tools.safe_sql import run_select
from etlcrew.tools.scope import ToolScopeError, current_scope
from pydantic import BaseModel, Field

MAX_ROWS = 200


class SqlQueryInput(BaseModel):
    query: str = Field(description="one SELECT statement, e.g. 'SELECT id, amount FROM orders LIMIT 5'")
    url: str = Field(default="", description="the database URL as in crews.yaml; empty for the crew's first")
    max_rows: int = Field(default=50, ge=1, le=MAX_ROWS, description="rows to return at most")


class SqlQueryTool(BaseTool):
    name: str = "sql_query"
    description: str = "Run one read-only SELECT on a database this crew reads; returns the rows as JSON."
    args_schema: type[BaseModel] = SqlQueryInput

    def _run(self, query: str, url: str = "", max_rows: int = 50) -> str:
        try:
            scope = current_scope()
            if not url and not scope.sql_urls:
                raise ToolScopeError("this crew declares no database (add a sql source in crews.yaml)")
            url = url or scope.sql_urls[0]
            checked = scope.check_sql(url, query)
            result = run_select(url, checked, scope.base_dir, max_rows)
        except ToolScopeError as exc:
            return ToolError.of(exc)
        except Exception as exc:  # a driver error (bad column, locked file) is the model's to fix
            return ToolError.of(f"query failed: {type(exc).__name__}: {exc}")
        return wrap_output(json.dumps(result, default=str, ensure_ascii=False), scope.tag)
