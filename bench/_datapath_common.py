"""Shared helpers for the data-path benchmarks (datapath_calls, concurrency, scale); not a benchmark itself.

Each benchmark builds a throw-away project (a copy of ``config/`` and ``data/reference``, plus generated data)
and points ETLCREW_PROJECT_DIR, ETLCREW_HOME and ETLCREW_OUTPUT_DIR at temp dirs, so the repo's ``output/`` and
``.etlcrew/`` are never touched.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
INBOX = ROOT / "data" / "inbox"


def make_project(base: Path, *, with_inbox: bool = False) -> Path:
    """``base/project`` holding a copy of config/ and data/ (every crew's sources must exist for ``validate``),
    with an empty ``data/inbox`` for generated items when ``with_inbox``."""
    project = base / "project"
    shutil.copytree(ROOT / "config", project / "config")
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("*.sqlite"))
    (project / "tools").mkdir()
    if with_inbox:
        shutil.rmtree(project / "data" / "inbox")
        (project / "data" / "inbox").mkdir()
    return project


def generate_inbox(folder: Path, n: int) -> list[str]:
    """``n`` inbox messages made by cycling data/inbox and perturbing each copy (subject / last line).

    Copy 0 of each file is verbatim; later copies get " (copy k)" appended to the Subject header (.eml) or a
    reference line appended (.txt), so every message is distinct but the same shape as the shipped ones.
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = sorted(p for p in INBOX.iterdir() if p.suffix in (".eml", ".txt"))
    names = []
    for k in range(n):
        src = base[k % len(base)]
        copy = k // len(base)
        data = src.read_bytes()
        if copy:
            if src.suffix == ".eml":
                data = re.sub(rb"(?m)^(Subject:[^\r\n]*)", rb"\1 (copy %d)" % copy, data, count=1)
            else:
                data = data.rstrip(b"\n") + b"\n\n(ref: copy %d)\n" % copy
        name = f"{k + 1:05d}-{src.stem[5:]}-c{copy}{src.suffix}"
        (folder / name).write_bytes(data)
        names.append(name)
    return names


def set_env(project: Path, state: Path, output: Path) -> None:
    """Select the temp project, state and output; no model settings leak in from the shell."""
    os.environ["ETLCREW_PROJECT_DIR"] = str(project)
    os.environ["ETLCREW_HOME"] = str(state)
    os.environ["ETLCREW_OUTPUT_DIR"] = str(output)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    for name in ("MODEL", "ETLCREW_MODEL", "BASE_URL", "ETLCREW_BASE_URL", "ETLCREW_CONFIG_DIR"):
        os.environ.pop(name, None)


def run_cli(args: list[str]) -> tuple[int, dict[str, Any]]:
    """``etlcrew.cli.main([...,"--json"])`` in-process; returns the exit code and the JSON summary."""
    from etlcrew.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--json"])
    text = out.getvalue()
    start = text.find("{")
    return code, (json.loads(text[start:]) if start >= 0 else {"raw": text})


def count_rows(db: Path, table: str = "tickets") -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM etlcrew.{table}").fetchone()[0]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def product_commit() -> str:
    """The checkout's HEAD (the product is installed editable, so this is the code measured), with "+dirty" when
    files outside bench/ differ from it (work in progress in the tree was measured too)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", ".", ":(exclude)bench")
    return f"{head}+dirty" if dirty else head


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"commit": product_commit(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
