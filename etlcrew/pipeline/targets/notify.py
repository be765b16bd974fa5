"""The ``notify`` target's two ways to tell someone about an action item: a JSON line in a file, or a tool call.

The file gets one line per delivery, ``{"key", "crew", "run_id", "item_id", "fields"}``. Before appending, the
keys already in the file are read, so a crash after the line was written but before the ledger marked it delivered
does not write it twice on resume: the file holds each delivery exactly once. A tool cannot be asked whether it
already acted, so it gets the ``idempotency_key`` to drop a repeat (a crash in that same gap calls it again).

A tool from ``tools/`` takes, among its arguments, any of ``TOOL_ARGS``: ``crew``, ``run_id``, ``item_id``,
``fields`` (the record's fields), ``idempotency_key`` and ``payload`` (the whole notice); ``validate`` refuses a
tool that asks for anything else. A tool's answer that starts with ``error:`` (``ToolError``) is a failure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from etlcrew.settings import Settings
from etlcrew.specs.datapath import NotifyTarget

TOOL_ARGS = ("crew", "run_id", "item_id", "fields", "idempotency_key", "payload")


def notify_path(target: NotifyTarget, crew: str, settings: Settings) -> Path:
    """``output/<crew>-actions.jsonl`` unless the target names a path (relative to the project directory)."""
    if target.path:
        path = Path(target.path)
        return path if path.is_absolute() else settings.project_dir / path
    return settings.output_dir / f"{crew}-actions.jsonl"


def keys_in(path: Path) -> set[str]:
    """The delivery keys the file already holds (a torn last line, from a crash mid-write, holds none)."""
    if not path.exists():
        return set()
    keys = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                key = json.loads(line).get("key")
            except (ValueError, AttributeError):
                continue
            if isinstance(key, str):
                keys.add(key)
    return keys


def append_line(path: Path, key: str, payload: dict[str, Any]) -> None:
    """Append ``payload`` with its key as one JSON line, on disk (fsync) before the ledger is told."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"key": key, **payload}, ensure_ascii=False, default=str) + "\n"
    with path.open("a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell():
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":  # a torn line from a crash: start on a line of our own
                line = "\n" + line
        handle.write(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def tool_arguments(args: tuple[str, ...], key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments a tool declares, from the notice (``validate`` checked it declares no other)."""
    values = {"crew": payload.get("crew"), "run_id": payload.get("run_id"), "item_id": payload.get("item_id"),
              "fields": payload.get("fields", {}), "idempotency_key": key, "payload": payload}
    return {name: values[name] for name in args if name in values}


def call_tool(tool: Any, args: tuple[str, ...], key: str, payload: dict[str, Any]) -> str | None:
    """Run the tool once; the error, or ``None`` when it answered without one."""
    try:
        answer = tool.run(**tool_arguments(args, key, payload))
    except Exception as exc:  # a user's tool may raise anything; the outbox records it and retries
        return f"{type(exc).__name__}: {exc}"
    text = str(answer) if answer is not None else ""
    return text.removeprefix("error: ") if text.startswith("error:") else None
