"""Built-in tool: GET JSON from a host the crew declares (its ``http`` sources and webhook targets).

Redirects are followed only to declared hosts, the body is capped and the call time-limited (``tools.safe_http``).
"""

from __future__ import annotations

import json

from crewai.tools import BaseTool
from etlcrew.tools.data_wrapping import ToolError, wrap_output
from etlcrew.tools.safe_http import get_json
from etlcrew.tools.scope import ToolScopeError, current_scope
from pydantic import BaseModel, Field

MAX_CHARS = 20_000


class HttpGetJsonInput(BaseModel):
    url: str = Field(description="http(s) URL on a host this crew declares, e.g. 'http://127.0.0.1:8000/api/items'")
    timeout_s: float = Field(default=10.0, gt=0, le=30, description="seconds to wait at most")


class HttpGetJsonTool(BaseTool):
    name: str = "http_get_json"
    description: str = "GET a JSON document from a host this crew reads from; returns the JSON text."
    args_schema: type[BaseModel] = HttpGetJsonInput

    def _run(self, url: str, timeout_s: float = 10.0) -> str:
        try:
            scope = current_scope()
            data = get_json(url, scope, timeout_s=timeout_s)
        except ToolScopeError as exc:
            return ToolError.of(exc)
        except RuntimeError as exc:
            return ToolError.of(exc)
        text = json.dumps(data, ensure_ascii=False, indent=1)
        if len(text) > MAX_CHARS:
            text = text[:MAX_CHARS] + f"\n[... cut at {MAX_CHARS} characters]"
        return wrap_output(text, scope.tag)
