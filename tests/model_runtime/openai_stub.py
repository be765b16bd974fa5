"""A stub OpenAI-compatible chat server on 127.0.0.1 for tests: schema-valid JSON answers (``sample_instance``),
optionally token log-probabilities, optionally failing its first calls with HTTP 500. Not a test module."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LogProbs = Callable[[str, str | None], list[dict[str, Any]]]  # (content, the first category value) -> tokens


class StubOpenAI:
    """``requests`` holds every request body; ``fail_first`` calls answer 500 before any answer is given."""

    def __init__(self, logprobs: LogProbs | None = None, fail_first: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failed = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                if stub.failed < fail_first:
                    stub.failed += 1
                    self._send(500, {"error": {"message": "stub overloaded", "type": "server_error"}})
                    return
                self._send(200, stub.reply(body, logprobs))

            def do_GET(self) -> None:
                self._send(200, {})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def reply(body: dict[str, Any], logprobs: LogProbs | None) -> dict[str, Any]:
        from etlcrew.model_runtime.scripted import sample_instance

        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        answer = sample_instance(schema) if schema else None
        content = json.dumps(answer) if schema else "Final Answer: read them"
        value = None
        if isinstance(answer, dict) and answer.get("records") and "category" in answer["records"][0]:
            value = json.dumps(answer["records"][0]["category"])
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": content}}
        if logprobs is not None:
            choice["logprobs"] = {"content": logprobs(content, value)}
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "stub", "choices": [choice],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
