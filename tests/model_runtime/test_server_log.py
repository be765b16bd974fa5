"""llama.cpp writes its log from C to file descriptor 2, past Python's streams: by default it must write nothing.

The server runs in a child process whose real stderr is captured, so a line written by C code is seen; the same
child with ``ETLCREW_MODEL_LOG=2`` shows llama.cpp's warning, which proves the capture would catch a leak.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from etlcrew.model_runtime.catalogue import find_entry
from etlcrew.model_runtime.server import log_verbosity
from etlcrew.model_runtime.weights import cache_status, weights_path
from etlcrew.settings import load_settings

CHILD = r"""
import json, sys, urllib.error, urllib.request
from pathlib import Path
from etlcrew import console
from etlcrew.errors import ModelError
from etlcrew.model_runtime.server import start_server, stop_all

console.configure(json_mode=True)  # as under --json: our own lines are silent, so fd 2 must stay empty
server = start_server(Path(sys.argv[1]), parallel=1, ctx_per_slot=512, max_tokens=16)
schema = {"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative"]}},
          "required": ["sentiment"]}
bodies = [{"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}},
          {"messages": [{"role": "user", "content": "word " * 2000}]},  # over the context: a 400 reply
          {"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "strin"}}}}]
codes = []
for extra in bodies:
    body = {"messages": [{"role": "user", "content": "Is 'great kettle' positive?"}], "max_tokens": 16} | extra
    request = urllib.request.Request(server.url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            codes.append(response.status)
    except urllib.error.HTTPError as exc:
        codes.append(exc.code)
stop_all()
broken = Path(sys.argv[2])
broken.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 8)
try:
    start_server(broken)
except ModelError as exc:
    codes.append(exc.hint)
print(json.dumps(codes))
"""


@pytest.fixture(scope="module")
def smollm2() -> Path:
    settings = load_settings(load_dotenv_file=False)
    entry = find_entry("smollm2-135m")
    if cache_status(entry, settings.model_cache_dir) != "present":
        pytest.skip(f"SmolLM2 weights not cached in {settings.model_cache_dir}: run `python main.py models pull`")
    return weights_path(entry, settings.model_cache_dir)


def run_child(model: Path, tmp_path: Path, level: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ETLCREW_MODEL_LOG"}
    if level is not None:
        env["ETLCREW_MODEL_LOG"] = level
    return subprocess.run([sys.executable, "-c", CHILD, str(model), str(tmp_path / "broken.gguf")],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.embedded
def test_llama_cpp_writes_nothing_to_stderr_by_default(smollm2: Path, tmp_path: Path) -> None:
    quiet = run_child(smollm2, tmp_path, None)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == '[200, 400, 400, "ETLCREW_MODEL_LOG=1 shows llama.cpp\'s own reason"]'
    assert quiet.stderr == "", "llama.cpp wrote to file descriptor 2 at the default log level"

    loud = run_child(smollm2, tmp_path, "2")
    assert loud.returncode == 0, loud.stderr
    assert " W " in loud.stderr and " E " in loud.stderr, "the capture sees C-level lines when they are asked for"


@pytest.mark.parametrize(("value", "level"), [(None, 0), ("", 0), ("0", 0), ("1", 1), ("3", 3), ("9", 4),
                                              ("debug", 0), ("-1", 0)])
def test_model_log_level_reads_the_variable_and_never_fails(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                                            level: int) -> None:
    if value is None:
        monkeypatch.delenv("ETLCREW_MODEL_LOG", raising=False)
    else:
        monkeypatch.setenv("ETLCREW_MODEL_LOG", value)
    assert log_verbosity() == level
