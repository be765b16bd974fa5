"""End to end with the real SmolLM2 weights: in-process llama.cpp, CrewAI's OpenAI provider, JSON schema.

Needs the cached weights (``python main.py models pull``; found through ETLCREW_MODEL_CACHE); no network.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel

from etlcrew.crewai_env import import_crewai
from etlcrew.model_runtime.catalogue import find_entry
from etlcrew.model_runtime.providers import build_llm
from etlcrew.model_runtime.server import DEFAULT_CTX_PER_SLOT, running_servers, start_server, stop_all
from etlcrew.model_runtime.weights import cache_status, weights_path
from etlcrew.settings import Settings, load_settings

pytestmark = pytest.mark.embedded


class Sentiment(StrEnum):
    positive = "positive"
    negative = "negative"
    neutral = "neutral"


class Review(BaseModel):
    sentiment: Sentiment
    product: str


PROMPT = [{"role": "user", "content": "Review: 'The kettle broke after a week.' Give the sentiment and product."}]


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    loaded = load_settings(load_dotenv_file=False)
    if cache_status(find_entry("smollm2-135m"), loaded.model_cache_dir) != "present":
        pytest.skip(f"SmolLM2 weights not cached in {loaded.model_cache_dir}: run `python main.py models pull`")
    yield loaded
    stop_all()


@pytest.fixture
def recorder(settings: Settings) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback proxy in front of the embedded server that records each request body."""
    server = start_server(weights_path(find_entry("smollm2-135m"), settings.model_cache_dir), alias="smollm2-135m")
    seen: list[dict[str, Any]] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(json.loads(body))
            request = urllib.request.Request(server.root + self.path, data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as response:
                data = response.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{proxy.server_port}/v1", seen
    proxy.shutdown()
    proxy.server_close()


def test_server_is_loopback_with_parallel_slots_and_reused(settings: Settings) -> None:
    path = weights_path(find_entry("smollm2-135m"), settings.model_cache_dir)
    server = start_server(path, alias="smollm2-135m", parallel=2)
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
    slots = server.get_json("/slots")
    assert len(slots) == 2 and all(s["n_ctx"] == DEFAULT_CTX_PER_SLOT for s in slots)
    assert start_server(path) is server
    assert server in running_servers()


def test_build_llm_local_returns_schema_valid_output(settings: Settings) -> None:
    llm = build_llm("local/smollm2-135m", settings)
    assert llm.model == "smollm2-135m" and str(llm.base_url).startswith("http://127.0.0.1:")
    result = llm.call(PROMPT, response_model=Review)
    review = result if isinstance(result, Review) else Review.model_validate_json(result)
    assert review.sentiment in set(Sentiment)


def test_crewai_sends_the_json_schema_and_llama_cpp_obeys(settings: Settings, recorder) -> None:
    base_url, seen = recorder
    crewai = import_crewai(settings.state_dir)
    llm = crewai.LLM(model="openai/smollm2-135m", base_url=base_url, api_key="sk-local", temperature=0)
    llm.call(PROMPT, response_model=Review)
    agent = crewai.Agent(role="Classifier", goal="Classify reviews", backstory="Terse.", llm=llm, max_iter=1)
    task = crewai.Task(description="Review: 'Lovely teapot, pours well.'", expected_output="sentiment and product",
                       agent=agent, output_pydantic=Review)
    output = crewai.Crew(agents=[agent], tasks=[task]).kickoff()
    assert isinstance(output.pydantic, Review)
    assert len(seen) >= 2
    for body in seen:  # both the direct call and the Task's output_pydantic path carry the schema
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Review"
        schema = fmt["json_schema"]["schema"]
        assert schema["required"] == ["sentiment", "product"]
        assert schema["$defs"]["Sentiment"]["enum"] == ["positive", "negative", "neutral"]


def test_stop_all_stops_the_server(settings: Settings) -> None:
    server = start_server(weights_path(find_entry("smollm2-135m"), settings.model_cache_dir))
    stop_all()
    assert not server.running and running_servers() == []
    with pytest.raises(OSError):
        server.get_json("/health", timeout=2)
