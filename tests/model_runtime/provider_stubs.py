"""Stub Anthropic Messages and Gemini generateContent servers on 127.0.0.1, so the native CrewAI providers'
request paths run over real HTTP in tests: schema-valid answers (``sample_instance``), fixed token usage, and
optionally HTTP 500 for the first calls. Not a test module."""

from __future__ import annotations

import ast
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT_TOKENS, COMPLETION_TOKENS = 11, 7  # every answer reports this usage, so counts can be checked exactly


@dataclass(frozen=True)
class Seen:
    """One request as the stub received it (header names lower-cased)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class StubServer:
    """Records every request in ``requests``; the first ``fail_first`` POSTs answer 500 (``failed`` counts them),
    the first ``stall_first`` wait ``stall_s`` before answering (past a client's timeout). Subclasses give the
    provider's answer and error bodies."""

    def __init__(self, fail_first: int = 0, stall_first: int = 0, stall_s: float = 5.0) -> None:
        self.requests: list[Seen] = []
        self.failed = self.stalled = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                stub.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if stub.failed < fail_first:
                    stub.failed += 1
                    self._send(500, stub.error_body())
                    return
                if stub.stalled < stall_first:
                    stub.stalled += 1
                    time.sleep(stall_s)
                self._send(200, stub.answer(self.path, body))

            def do_GET(self) -> None:
                self._send(404, stub.error_body())  # what a provider says to the run's reachability probe

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a stalled answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json_answer(schema: dict[str, Any] | None) -> str:
    from etlcrew.model_runtime.scripted import sample_instance

    return json.dumps(sample_instance(schema)) if schema else "Final Answer: read them"


class StubAnthropic(StubServer):
    """``POST /v1/messages``: structured output either native (``output_format``, text JSON) or as CrewAI's
    ``structured_output`` tool (a ``tool_use`` block), else plain text."""

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        from etlcrew.model_runtime.scripted import sample_instance

        tool = next((t for t in body.get("tools") or [] if t.get("name") == "structured_output"), None)
        if tool is not None:
            content = [{"type": "tool_use", "id": "toolu_1", "name": "structured_output",
                        "input": sample_instance(restore_schema(tool["input_schema"]))}]
            stop = "tool_use"
        else:
            schema = (body.get("output_format") or {}).get("schema")
            content, stop = [{"type": "text", "text": _json_answer(schema and restore_schema(schema))}], "end_turn"
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"),
                "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS}}

    def error_body(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": "api_error", "message": "stub overloaded"}}


class StubGemini(StubServer):
    """``POST /v1beta/models/{model}:generateContent``: JSON text for the requested response schema."""

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        config = body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": _json_answer(schema)}]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": COMPLETION_TOKENS,
                                  "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS},
                "modelVersion": path.rsplit("/", 1)[-1].split(":")[0]}

    def error_body(self) -> dict[str, Any]:
        return {"error": {"code": 500, "message": "stub overloaded", "status": "INTERNAL"}}


def restore_schema(node: Any) -> Any:
    """Undo the Anthropic SDK's ``transform_schema`` as a model reading the request would: keywords its API does not
    take (``prefixItems``, ``enum``, ``const``, ``maxLength``...) travel in the description as ``{key: value}``."""
    if isinstance(node, list):
        return [restore_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    restored = {k: restore_schema(v) for k, v in node.items() if k != "properties"}
    restored.update({k: restore_schema(v) for k, v in _leftovers(str(node.get("description", ""))).items()})
    if "properties" in node:
        restored["properties"] = {k: restore_schema(v) for k, v in node["properties"].items()}
    return restored


def _leftovers(description: str) -> dict[str, Any]:
    """The ``{key: value, ...}`` block ``transform_schema`` appends to a description, parsed back."""
    text = description[description.rfind("\n\n{") + 2:] if "\n\n{" in description else description
    if not (text.startswith("{") and text.endswith("}")):
        return {}
    parts, depth, quote, begin = [], 0, "", 1
    for i, ch in enumerate(text[1:-1], 1):
        if quote:
            quote = "" if ch == quote and text[i - 1] != "\\" else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(" or ch in "]})":
            depth += 1 if ch in "[{(" else -1
        elif ch == "," and depth == 0:
            parts.append(text[begin:i])
            begin = i + 1
    parts.append(text[begin:-1])
    found: dict[str, Any] = {}
    for part in parts:
        key, _, value = part.strip().partition(": ")
        try:
            found[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            found[key] = value  # a plain string is written without quotes
    return found
