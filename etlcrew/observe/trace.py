"""The run's trace: one JSON object per line in ``.etlcrew/traces/<run_id>.jsonl``, usable with ``jq``.

Every line is redacted (API keys, tokens, passwords in URLs) before it is written; lines are flushed as they
come, so a crashed run's trace is complete up to the crash. A resumed run appends to the same file.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from etlcrew.observe.events import RunEvent
from etlcrew.printable import json_printable

TRACES = "traces"


def trace_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / TRACES / f"{run_id}.jsonl"


class JsonlTrace:
    """A sink for ``EventHub``; close it at the end of the run."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: RunEvent) -> None:
        from etlcrew.redact import redact

        line = json_printable(redact(json.dumps(event.as_dict(), default=str, ensure_ascii=False)))
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
