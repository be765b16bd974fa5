"""Windows-safe: no POSIX-only module or call in the installed package outside the places made for them, and the
metadata says which Pythons the package supports (CrewAI needs < 3.14)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FOLDERS = ("etlcrew", "agents", "crews", "tasks", "tools")
POSIX_MODULES = {"fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "posix"}
POSIX_CALLS = {("os", n) for n in ("pwrite", "pread", "fork", "kill", "killpg", "setsid", "getuid", "geteuid",
                                    "getpgid", "setpgrp", "fchown", "chown", "mkfifo", "getloadavg")} | {
    ("signal", n) for n in ("SIGKILL", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGQUIT", "alarm", "setitimer",
                            "pause")}
ALLOWED = {
    "etlcrew/os_compat.py": "the portable wrapper: each POSIX call next to its Windows counterpart",
    "etlcrew/pipeline/failpoints.py": "test fault injection (ETLCREW_FAILPOINT): kills its own process on POSIX",
}


def _posix_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in POSIX_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in POSIX_MODULES:
            found.append(node.module or "")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and (node.value.id, node.attr) in POSIX_CALLS:
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


def test_no_posix_only_calls_outside_the_portable_wrapper() -> None:
    offenders = {}
    for folder in PACKAGE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name not in ALLOWED and (uses := _posix_uses(path)):
                offenders[name] = uses
    assert offenders == {}, "POSIX-only: route these through etlcrew/os_compat.py (or filelock)"


def test_supported_pythons_are_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    versions = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                if c.startswith("Programming Language :: Python :: 3.")}
    assert versions == {"3.11", "3.12", "3.13"}
    assert any(d.startswith("filelock") for d in project["dependencies"]), "the crew lock imports filelock"
