"""The CLI in a child process with the scripted model (canned, schema-valid answers): for the SIGKILL tests.

``ETLCREW_FAILPOINT`` (see ``pipeline.failpoints``) kills it at a named point of the run, ``model-call:n`` in the
middle of the n-th model call; ``CRASH_SLOW_S`` makes each call slow; ``CRASH_ACTIONS=1`` makes the publisher
name every other item of the run as needing action.
Not a test module: the tests run it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from etlcrew.crewai_env import prepare_crewai_environment  # noqa: E402

prepare_crewai_environment(Path(os.environ["ETLCREW_HOME"]))

from etlcrew.model_runtime.scripted import ScriptedCall, ScriptedLLM, register_scripted, sample_answer  # noqa: E402
from etlcrew.pipeline import failpoints  # noqa: E402

SLOW_S = float(os.environ.get("CRASH_SLOW_S", "0"))  # seconds per call, so a test can press Ctrl-C mid-run
ACTIONS = os.environ.get("CRASH_ACTIONS") == "1"


def answer(call: ScriptedCall) -> str:
    failpoints.hit("model-call")
    if SLOW_S:
        time.sleep(SLOW_S)
    text = sample_answer(call)
    if ACTIONS and call.response_model is not None and "action_item_ids" in call.response_model.model_fields:
        ids = call.response_model.model_json_schema()["properties"]["action_item_ids"]["items"]["enum"]
        text = json.dumps(json.loads(text) | {"action_item_ids": ids[::2]})
    return text


register_scripted("crash", ScriptedLLM(default=answer))

from etlcrew.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
