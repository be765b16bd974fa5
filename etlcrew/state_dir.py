"""The state folder (``ETLCREW_HOME``, default ``<project>/.etlcrew``) must be writable before any work starts.

A run, ``eval`` and ``resume`` write the ledger, the crew's lock, traces and CrewAI's storage there; a read-only
folder found minutes into a run is a lost run. ``validate`` checks it too. The check creates nothing: it asks
the folder, or its nearest existing parent, whether it can be written (``os.access`` reports a read-only file
system as well as missing permissions).
"""

from __future__ import annotations

import os
from pathlib import Path

from etlcrew.errors import ConfigError, ConfigProblem
from etlcrew.settings import Settings

VARIABLE = "ETLCREW_HOME"
SQLITE_HEADER = b"SQLite format 3\x00"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def state_dir_problems(settings: Settings) -> list[ConfigProblem]:
    """One problem when the state folder cannot be created or written, naming it, where it was set and the fix."""
    folder = settings.state_dir
    source = settings.sources.get("state_dir")
    where = {None: f"the default; {VARIABLE} moves it", "config/settings.yaml": "state_dir in config/settings.yaml",
             "flag": "a flag"}.get(source, f"{VARIABLE}")
    fix = f"set {VARIABLE} to a writable folder (export {VARIABLE}=$HOME/.etlcrew), or make this one writable"
    existing = _nearest_existing(folder)
    if existing == folder and not folder.is_dir():
        return [ConfigProblem(str(folder), f"the state folder ({where}) is a file, not a folder",
                              key=VARIABLE, hint=fix)]
    ledger = ledger_problem(folder / "ledger.db")
    if ledger:
        return [ledger]
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only_fs(existing) else "permission denied"
        what = "is not writable" if existing == folder else f"cannot be created in {existing}"
        return [ConfigProblem(str(folder), f"the state folder ({where}) {what}: {why}",
                              key=VARIABLE, hint=fix)]
    return []


def ledger_problem(path: Path) -> ConfigProblem | None:
    """A ``ledger.db`` that is not an SQLite file (an empty file is a new one), found before any work starts."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return ConfigProblem(str(path), f"the ledger cannot be read ({exc.strerror})", key=VARIABLE,
                             hint="make it readable, or point ETLCREW_HOME at another folder")
    if head in (b"", SQLITE_HEADER):
        return None
    return ConfigProblem(str(path), "is not an etlcrew ledger (not an SQLite database)", key=VARIABLE,
                         hint=f"move it aside (mv {path} {path}.bad) and run again: a new ledger is created; or "
                              "point ETLCREW_HOME at the folder of the right one")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        return False


def check_state_dir(settings: Settings) -> None:
    """Raise ``ConfigError`` (exit 2) when the state folder cannot be written."""
    problems = state_dir_problems(settings)
    if problems:
        raise ConfigError(problems)
