"""The embedded model's CPU variables: what a run does with them, and ``validate`` refusing bad values before a run.

The embedded part starts SmolLM2 with the variables set and reads the effect back from llama.cpp itself
(``/metrics``: speculative draft tokens), so a variable that is parsed but never reaches the server fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from etlcrew.model_runtime import cpu_tuning
from etlcrew.model_runtime.catalogue import find_entry
from etlcrew.model_runtime.server import start_server, stop_all
from etlcrew.model_runtime.weights import cache_status, weights_path
from etlcrew.settings import load_settings


def test_defaults_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (cpu_tuning.THREADS_ENV, cpu_tuning.POLL_ENV, cpu_tuning.SPECULATIVE_ENV):
        monkeypatch.delenv(name, raising=False)
    assert cpu_tuning.poll() == cpu_tuning.DEFAULT_POLL
    assert cpu_tuning.speculative() == cpu_tuning.DEFAULT_SPECULATIVE
    assert cpu_tuning.threads_for(cpu_tuning.BIG_MODEL_BYTES + 1) == cpu_tuning.cores()
    assert cpu_tuning.threads_for(1) == max(1, cpu_tuning.cores() - 1)
    assert cpu_tuning.env_problems() == []


def test_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu_tuning.THREADS_ENV, "3")
    monkeypatch.setenv(cpu_tuning.POLL_ENV, "50")
    monkeypatch.setenv(cpu_tuning.SPECULATIVE_ENV, "NGram")
    assert (cpu_tuning.threads_for(1), cpu_tuning.poll(), cpu_tuning.speculative()) == (3, 50, "ngram")


def test_a_busy_machine_gets_fewer_generation_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real CPU-bound process beside us: the probe sees it, and generation gives up a thread for it."""
    monkeypatch.delenv(cpu_tuning.THREADS_ENV, raising=False)
    if cpu_tuning.cores() < 2:
        pytest.skip("one core: there is no thread to give up")
    big = cpu_tuning.BIG_MODEL_BYTES + 1
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert cpu_tuning.busy_cores() >= cpu_tuning.BUSY_THRESHOLD
        chosen = cpu_tuning.choose_threads(big, None)
    finally:
        spinner.kill()
        spinner.wait()
    assert chosen["batch_threads"] == cpu_tuning.cores(), "prompts keep every core"
    assert 1 <= chosen["threads"] < chosen["batch_threads"]
    assert chosen["busy_cores"] >= cpu_tuning.BUSY_THRESHOLD


def test_an_idle_machine_and_a_set_count_keep_every_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    if cpu_tuning.cores() < 2:
        pytest.skip("one core: nothing to choose")
    big = cpu_tuning.BIG_MODEL_BYTES + 1
    monkeypatch.delenv(cpu_tuning.THREADS_ENV, raising=False)
    monkeypatch.setattr(cpu_tuning, "busy_cores", lambda: 0.1)
    assert cpu_tuning.choose_threads(big, None) == {"threads": cpu_tuning.cores(),
                                                     "batch_threads": cpu_tuning.cores(), "busy_cores": 0.1}
    monkeypatch.setattr(cpu_tuning, "busy_cores", lambda: 9.0)
    assert cpu_tuning.choose_threads(big, 3)["threads"] == 3, "a count given by the caller is kept"
    monkeypatch.setenv(cpu_tuning.THREADS_ENV, "2")
    assert cpu_tuning.choose_threads(big, None) == {"threads": 2, "batch_threads": 2, "busy_cores": None}


def test_a_small_model_on_one_thread_is_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cpu_tuning.THREADS_ENV, raising=False)
    if cpu_tuning.threads_for(1) > 1:
        pytest.skip("more than 2 cores: a small model gets several threads here")
    monkeypatch.setattr(cpu_tuning, "busy_cores", lambda: pytest.fail("probed"))
    assert cpu_tuning.choose_threads(1, None) == {"threads": 1, "batch_threads": 1, "busy_cores": None}


@pytest.mark.parametrize(("name", "value", "words"), [
    (cpu_tuning.THREADS_ENV, "two", "not a whole number"),
    (cpu_tuning.THREADS_ENV, "0", "not a whole number"),
    (cpu_tuning.POLL_ENV, "101", "0 to 100"),
    (cpu_tuning.SPECULATIVE_ENV, "eagle", "off, ngram, draft"),
])
def test_validate_names_a_bad_variable_and_its_fix(monkeypatch: pytest.MonkeyPatch, cli, name: str,  # type: ignore[no-untyped-def]
                                                   value: str, words: str) -> None:
    monkeypatch.setenv(name, value)
    result = cli("validate", "--json")
    assert result.code == 2
    problem = next(p for p in result.json["problems"] if p.get("key") == name)
    assert words in problem["message"] and name in problem["hint"]
    assert "Traceback" not in result.err


@pytest.fixture
def smollm2() -> Iterator[object]:
    settings = load_settings(load_dotenv_file=False)
    entry = find_entry("smollm2-135m")
    if cache_status(entry, settings.model_cache_dir) != "present":
        pytest.skip(f"SmolLM2 weights not cached in {settings.model_cache_dir}: run `python main.py models pull`")
    stop_all()
    yield weights_path(entry, settings.model_cache_dir)
    stop_all()


def _counter(root: str, name: str) -> float:
    with urllib.request.urlopen(root + "/metrics", timeout=30) as response:
        lines = response.read().decode().splitlines()
    return float(next(line.split()[1] for line in lines if line.startswith(f"llamacpp:{name} ")))


def _ask(url: str, text: str) -> str:
    """128 greedy tokens with no repeat penalty and no stop: a small model repeats itself, which n-grams find."""
    body = {"messages": [{"role": "user", "content": text}], "max_tokens": 128, "temperature": 0,
            "ignore_eos": True, "repeat_penalty": 1.0}
    request = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["choices"][0]["message"]["content"]


@pytest.mark.embedded
def test_the_server_runs_with_no_polling_and_ngram_drafts(monkeypatch: pytest.MonkeyPatch, smollm2) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(cpu_tuning.POLL_ENV, "0")
    monkeypatch.setenv(cpu_tuning.SPECULATIVE_ENV, "ngram")
    server = start_server(smollm2, alias="smollm2-135m")
    assert server.tuning["poll"] == 0 and server.tuning["speculative"] == "ngram"
    assert _ask(server.url, "Say hello.")
    assert _counter(server.root, "spec_decode_num_drafts_total") > 0, "ngram drafts reached llama.cpp"


@pytest.mark.embedded
def test_without_speculation_no_drafts(monkeypatch: pytest.MonkeyPatch, smollm2) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(cpu_tuning.SPECULATIVE_ENV, "off")
    server = start_server(smollm2, alias="smollm2-135m")
    assert _ask(server.url, "Say hello.")
    assert _counter(server.root, "spec_decode_num_drafts_total") == 0
