"""Built-in tool: POST a JSON payload to one of the crew's enabled webhook targets, with an ``Idempotency-Key``.

The key defaults to a hash of the URL and the payload, so the same notice sent twice carries the same key and the
receiver can drop the repeat (as the webhook target does, ``pipeline.targets.webhook``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from crewai.tools import BaseTool
from etlcrew.tools.data_wrapping import ToolError
from etlcrew.tools.safe_http import post_json
from etlcrew.tools.scope import ToolScopeError, current_scope
from pydantic import BaseModel, Field


class NotifyWebhookInput(BaseModel):
    payload: dict[str, Any] = Field(description="the JSON object to send, e.g. {'item_id': 'inbox:0003', 'why': '...'}")
    url: str = Field(default="", description="a webhook URL of this crew's targets; empty for the first")
    idempotency_key: str = Field(default="", max_length=200, description="optional; derived from the payload")


def default_key(url: str, payload: Any) -> str:
    """Same URL and payload, same key."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"tool:notify_webhook/{url}/{canonical}".encode()).hexdigest()


class NotifyWebhookTool(BaseTool):
    name: str = "notify_webhook"
    description: str = "POST a JSON notice to this crew's webhook (declared webhook targets only)."
    args_schema: type[BaseModel] = NotifyWebhookInput

    def _run(self, payload: dict[str, Any], url: str = "", idempotency_key: str = "") -> str:
        try:
            scope = current_scope()
            if not url and not scope.post_urls:
                raise ToolScopeError("this crew declares no enabled webhook target")
            url = scope.check_post(url or scope.post_urls[0])
            key = idempotency_key or default_key(url, payload)
            status = post_json(url, payload, key)
        except (ToolScopeError, RuntimeError) as exc:
            return ToolError.of(exc)
        if not 200 <= status < 300:
            return ToolError.of(f"the webhook answered HTTP {status} (redirects are not followed)")
        return f"sent (HTTP {status}, Idempotency-Key {key})"
